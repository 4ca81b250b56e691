#!/usr/bin/env bash
# Creates the sandbox's databases and roles when the postgres container starts on an empty
# data volume: the image's entrypoint runs this file once, against its first-start server.
# It runs the very bootstrap.sql the local profile runs (mounted read-only at /sandbox/sql),
# with the names and passwords docker-compose.yml passes in from .env, so both profiles
# create the same databases and roles. No `set` options: the entrypoint may source this file.
psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v source_db="$SANDBOX_POSTGRES__SOURCE_DB" \
  -v warehouse_db="$SANDBOX_POSTGRES__WAREHOUSE_DB" \
  -v prefect_db="$SANDBOX_POSTGRES__PREFECT_DB" \
  -v app_user="$SANDBOX_POSTGRES__APP_USER" \
  -v app_password="$SANDBOX_POSTGRES__APP_PASSWORD" \
  -v replication_user="$SANDBOX_POSTGRES__REPLICATION_USER" \
  -v replication_password="$SANDBOX_POSTGRES__REPLICATION_PASSWORD" \
  -v dbt_user="$SANDBOX_POSTGRES__DBT_USER" \
  -v dbt_password="$SANDBOX_POSTGRES__DBT_PASSWORD" \
  -v prefect_user="$SANDBOX_POSTGRES__PREFECT_USER" \
  -v prefect_password="$SANDBOX_POSTGRES__PREFECT_PASSWORD" \
  -f /sandbox/sql/bootstrap.sql
