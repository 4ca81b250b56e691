-- Roles and databases of the sandbox Postgres, one server playing two cloud roles:
--   source    (the RDS role)      owned by the application role, read by the replication role
--   warehouse (the Redshift role) owned by the dbt role
--   prefect   (orchestrator metadata)
-- Run by psql as a superuser with one -v variable per name and password (the local
-- profile's `sandbox up` and the compose postgres init script both do). Safe to rerun:
-- it creates what is missing and resets passwords to the configured ones.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY[:'app_user', :'replication_user', :'dbt_user', :'prefect_user']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE %s PASSWORD %L', r, repl, pw)
  FROM (VALUES (:'app_user', 'NOREPLICATION', :'app_password'),
               (:'replication_user', 'REPLICATION', :'replication_password'),
               (:'dbt_user', 'NOREPLICATION', :'dbt_password'),
               (:'prefect_user', 'NOREPLICATION', :'prefect_password')) AS t(r, repl, pw) \gexec

-- dbt runs its models and tests two at a time on the sandbox's two cores; Postgres' parallel
-- workers on top oversubscribe them (measured: an incremental `dbt build` at 1M orders took
-- 37 s with them, 31 s without).
SELECT format('ALTER ROLE %I SET max_parallel_workers_per_gather = 0', :'dbt_user') \gexec

-- The replication role reads every source table for the initial snapshot.
SELECT format('GRANT pg_read_all_data TO %I', :'replication_user') \gexec
-- and reads other sessions' activity, so a slot's creation can name the open transactions it
-- waits for (services/replication/slot_wait.py).
SELECT format('GRANT pg_read_all_stats TO %I', :'replication_user') \gexec

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', db, owner, 'UTF8')
  FROM (VALUES (:'source_db', :'app_user'), (:'warehouse_db', :'dbt_user'), (:'prefect_db', :'prefect_user')) AS t(db, owner)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db) \gexec

-- Only the roles that need a database may connect to it.
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', db)
  FROM unnest(ARRAY[:'source_db', :'warehouse_db', :'prefect_db']) AS db \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', db, r)
  FROM (VALUES (:'source_db', :'app_user'), (:'source_db', :'replication_user'),
               (:'warehouse_db', :'dbt_user'), (:'prefect_db', :'prefect_user')) AS t(db, r) \gexec
