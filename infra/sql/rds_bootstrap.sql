-- The roles and databases of services/platform/sql/bootstrap.sql, for RDS PostgreSQL (17+).
-- Same psql -v variables, same result, but written for the RDS master user, who is not a
-- superuser: it cannot set the REPLICATION (or SUPERUSER) attribute, so the replication role
-- gets RDS's rds_replication role instead; and to create a database owned by another role it
-- needs the SET option on that role. Safe to rerun; resets the passwords to the given ones.
-- Run from the worker, as in infra/README.md. Not exercised against a real RDS instance.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY[:'app_user', :'replication_user', :'dbt_user', :'prefect_user']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec

SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', r, pw)
  FROM (VALUES (:'app_user', :'app_password'),
               (:'replication_user', :'replication_password'),
               (:'dbt_user', :'dbt_password'),
               (:'prefect_user', :'prefect_password')) AS t(r, pw) \gexec

-- Logical replication on RDS: membership in rds_replication instead of the REPLICATION attribute.
SELECT format('GRANT rds_replication TO %I', :'replication_user') \gexec
-- The replication role reads every source table for the initial snapshot.
SELECT format('GRANT pg_read_all_data TO %I', :'replication_user') \gexec
SELECT format('GRANT pg_read_all_stats TO %I', :'replication_user') \gexec  -- names what a new slot waits for

-- The master user may hand a database to a role it can SET ROLE to (PostgreSQL 16+).
SELECT format('GRANT %I TO CURRENT_USER WITH SET TRUE, INHERIT FALSE', r)
  FROM unnest(ARRAY[:'app_user', :'dbt_user', :'prefect_user']) AS r \gexec

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', db, owner, 'UTF8')
  FROM (VALUES (:'source_db', :'app_user'), (:'warehouse_db', :'dbt_user'), (:'prefect_db', :'prefect_user')) AS t(db, owner)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = db) \gexec

-- Only the roles that need a database may connect to it.
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', db)
  FROM unnest(ARRAY[:'source_db', :'warehouse_db', :'prefect_db']) AS db \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', db, r)
  FROM (VALUES (:'source_db', :'app_user'), (:'source_db', :'replication_user'),
               (:'warehouse_db', :'dbt_user'), (:'prefect_db', :'prefect_user')) AS t(db, r) \gexec
