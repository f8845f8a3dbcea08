#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests use: a fresh machine has nothing installed by hand.
# python3-venv: scripts/e2e/openapi_conformance.sh installs schemathesis (from PyPI) into a venv.
# conntrack (conntrack-tools): the oracle scripts/e2e/connections.sh and bench/conntrack.sh compare with.
# bind9-dnsutils (dig), dnsperf, unbound: the DNS resolver e2e (scripts/e2e/dns_resolver.sh) and benchmark
# (bench/dns.sh); unbound is only a benchmark peer (its service is never started).
# ulogd2, ulogd2-json: the peer of bench/firewall_log.sh (its service is never started).
# lintian, binutils (strip, objcopy), jq: scripts/build-deb.
# ndisc6 (rdisc6): the router advertisement e2e (scripts/e2e/ra.sh) reads our RAs with an independent tool.
# isc-dhcp-client (dhclient), busybox (udhcpc), kea-admin (perfdhcp): the DHCPv4 server e2e and benchmark.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    iproute2 iputils-ping curl python3 python3-venv util-linux procps ca-certificates nftables dnsmasq-base \
    kea-dhcp4-server kea-dhcp6-server tcpdump conntrack pppoe iperf3 bind9-dnsutils dnsperf unbound ulogd2 ulogd2-json \
    lintian binutils jq ndisc6 isc-dhcp-client busybox kea-admin >/dev/null
