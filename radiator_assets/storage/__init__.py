"""The PostgreSQL warehouse: server, schema, units of work, bulk writers."""
