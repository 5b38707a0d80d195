"""People's login accounts, kept by the gateway in a database of its own (SQLite or PostgreSQL)."""
