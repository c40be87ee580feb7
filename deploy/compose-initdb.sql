-- Run once by the postgres image on an empty data directory (deploy/compose.yaml):
-- Dagster's storage gets a database of its own beside the warehouse (POSTGRES_DB).
CREATE DATABASE dagster;
