"""The metrics kind: traffic, latency, errors, usage and alerts from Prometheus, /metrics scrapes or timed requests."""
