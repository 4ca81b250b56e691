#!/usr/bin/env bash
# The official postgres image's entrypoint, for what this project uses of it: on an empty
# $PGDATA it runs initdb as POSTGRES_USER with POSTGRES_PASSWORD and POSTGRES_INITDB_ARGS,
# allows password logins from any host (scram-sha-256), listens on every interface, creates
# POSTGRES_DB, and runs /docker-entrypoint-initdb.d/*.sh and *.sql against a server that
# listens on its socket only; then it starts the server as the `postgres` user.
set -Eeuo pipefail

# `postgres --version` and the like only print: no set-up, as in the official entrypoint.
for arg in "$@"; do
    case "$arg" in -V | --version | -'?' | --help | --describe-config | -C) exec "$@" ;; esac
done

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" /var/run/postgresql && chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?the stand-in, like the official image, needs POSTGRES_PASSWORD}"
    export POSTGRES_USER=${POSTGRES_USER:-postgres} POSTGRES_DB=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags, as in the official image
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start
    export PGHOST=/var/run/postgresql PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -X -v ON_ERROR_STOP=1 --dbname=postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
        *.sh) if [ -x "$file" ]; then "$file"; else . "$file"; fi ;;
        *.sql) psql -X -v ON_ERROR_STOP=1 --dbname="$POSTGRES_DB" -f "$file" ;;
        *) [ -e "$file" ] && echo "docker-entrypoint: ignoring $file" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGHOST PGUSER PGPASSWORD
fi

if [ "${1:-}" = postgres ]; then
    exec "$@" -c unix_socket_directories=/var/run/postgresql
fi
exec "$@"
