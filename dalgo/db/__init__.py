"""The API database: tables, engine, migrations and the seeded role data."""
