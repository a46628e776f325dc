"""Plan, execute and cache the audit's work units."""
