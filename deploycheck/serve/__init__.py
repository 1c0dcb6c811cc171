"""`python -m deploycheck serve`, `merge` and `init`: verdicts over HTTP, shards merged, a repository scaffolded."""
