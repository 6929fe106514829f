"""Alembic migrations: the only way the schema is made. Shipped inside the package."""
