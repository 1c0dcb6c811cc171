"""The database kind: each service's PostgreSQL, asked read-only: reachable, migrated, a team's own queries."""
