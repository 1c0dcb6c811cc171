"""The http kind: health, readiness and version over HTTP; its session is the shared HTTP transport."""
