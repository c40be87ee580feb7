"""The metrics engine: pure functions over status stays (no Dagster, no database)."""
