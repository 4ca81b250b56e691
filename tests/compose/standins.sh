#!/usr/bin/env bash
# Local stand-ins for the upstream images docker-compose.yml starts from, built only where an
# image can be neither found nor pulled (a machine that reaches no image registry).
#
#   tests/compose/standins.sh
#
# Each stand-in is built under the upstream tag, from the same version (tests/compose/standins/
# <name>/Dockerfile says from what), and labelled org.pipeline-sandbox.stand-in-for=<tag>; with
# registry access the real images are pulled and nothing is built. The stand-ins start from a
# Debian bookworm base made with `debootstrap --variant=minbase` and `docker import`, holding
# the host's CA certificates so builds pass an HTTPS proxy with its own CA. Needs root for
# debootstrap (installed from Debian's packages when missing). Built images stay in the
# engine's store; the base's root file system is cached in $SANDBOX_COMPOSE_CACHE.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SANDBOX_COMPOSE_CACHE:-/var/cache/sandbox-compose}
BASE=pipeline-sandbox-standin-base:bookworm
LABEL=org.pipeline-sandbox.stand-in-for
# Upstream tag and stand-in folder, in build order (the others build on the Python stand-in).
IMAGES=(
    "python:3.11.17-slim-bookworm python"
    "prefecthq/prefect:3.8.8-python3.11 prefect"
    "node:24.19.0-bookworm-slim node"
    "chrislusf/seaweedfs:4.48 seaweedfs"
    "postgres:18.6-bookworm postgres"
)

say() { echo "stand-ins: $*" >&2; }

have() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {
    have "$BASE" && return
    local rootfs="$CACHE/rootfs"
    if [ ! -e "$rootfs/.complete" ]; then
        command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends debootstrap >/dev/null
        say "making a Debian bookworm root file system with debootstrap (a few minutes, once) ..."
        rm -rf "$rootfs" && mkdir -p "$CACHE"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$CACHE/debootstrap.log"
        touch "$rootfs/.complete"
    fi
    # The host's certificate bundle and its extra CAs (update-ca-certificates keeps them later).
    mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/share/ca-certificates"
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$rootfs/usr/local/share/ca-certificates/" \;
    rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
    local bundle=/etc/ssl/certs/ca-certificates.crt
    say "importing $BASE ..."
    tar -C "$rootfs" --exclude=./.complete -c . | docker import \
        --change "ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV SSL_CERT_FILE=$bundle PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle NODE_EXTRA_CA_CERTS=$bundle" \
        --change "LABEL $LABEL=debian:bookworm" \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
}

for entry in "${IMAGES[@]}"; do
    read -r image folder <<<"$entry"
    if have "$image"; then
        say "$image: present$(docker image inspect --format " (stand-in: {{index .Config.Labels \"$LABEL\"}})" "$image" 2>/dev/null | sed 's/ (stand-in: <no value>)//')"
        continue
    fi
    if timeout 60 docker pull --quiet "$image" >/dev/null 2>&1; then
        say "$image: pulled"
        continue
    fi
    build_base
    say "$image: no registry answers; building a stand-in from tests/compose/standins/$folder ..."
    started=$SECONDS
    log="$CACHE/build-$folder.log"
    docker build --tag "$image" "$HERE/standins/$folder" >"$log" 2>&1 || {
        tail -n 30 "$log" >&2
        say "$image: the stand-in's build failed; the whole log is $log"
        exit 1
    }
    say "$image: stand-in built in $((SECONDS - started)) s"
done
# The legacy builder keeps each build's wheel stage as an untagged image: only those go.
docker image prune --force --filter label=org.pipeline-sandbox.build-stage=wheel >/dev/null
