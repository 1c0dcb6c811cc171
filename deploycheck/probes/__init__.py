"""Adapters that gather evidence, one per source. Each returns a result that records its own timing and error,
so a probe that broke becomes an inconclusive or failed finding of the check that needed it, never a crash."""
