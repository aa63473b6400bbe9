"""Background work shared by bill runs and bulk jobs: chunks claimed from the database,
dispatched by procrastinate on PostgreSQL or an in-process worker on SQLite."""
