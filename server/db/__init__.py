"""Database access: where PostgreSQL comes from, the schema, and the connections."""
