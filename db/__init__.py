"""Database: typed models, session factory and Alembic migrations."""
