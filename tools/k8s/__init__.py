"""A local Kubernetes control plane for the cluster test tier (see build.sh, cluster.py)."""
