"""The shared PostgreSQL + pgvector store: engine, sessions, schema, migrations, embedded server."""
