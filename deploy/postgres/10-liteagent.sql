-- Runs once, when the PostgreSQL volume is created (docker-entrypoint-initdb.d).
-- POSTGRES_DB (litellm) holds LiteLLM's keys, budgets and spend; this second database holds
-- LiteAgent's own tables (runs, jobs) and its pgvector knowledge bases.
CREATE DATABASE liteagent;
\connect liteagent
CREATE EXTENSION IF NOT EXISTS vector;
