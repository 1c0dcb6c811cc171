"""The kubernetes kind: the rollout of each service's workload, read from the cluster."""
