#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests use: a fresh machine has nothing installed by hand.
# lintian, binutils (strip, objcopy), jq: scripts/build-deb. python3-venv: scripts/e2e/openapi_conformance.sh installs schemathesis (from PyPI) into a venv.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    iproute2 iputils-ping curl python3 python3-venv util-linux procps ca-certificates nftables dnsmasq-base \
    kea-dhcp4-server kea-dhcp6-server tcpdump lintian binutils jq >/dev/null
