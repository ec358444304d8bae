#!/bin/sh
# Installs what `make compare` and `make scale` need beyond Go: Debian's redis-server and
# etcd-server (the systems distkv is compared with). Root with apt-get only; it does nothing when
# both are there already. Unlike scripts/deps.sh it fails when it cannot install them: the
# comparison is its only purpose.
set -e
command -v redis-server >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "compare-deps: need redis-server and etcd-server (install them, or run as root with apt-get)" >&2
	exit 1
fi
echo "compare-deps: installing redis-server and etcd-server"
export DEBIAN_FRONTEND=noninteractive
lock="-o DPkg::Lock::Timeout=300"
apt-get $lock update -qq >/dev/null
apt-get $lock install -y -qq --no-install-recommends redis-server etcd-server >/dev/null
# Debian's packages start their own instances where an init system lets them: the tool starts
# its own on other ports, so those only cost CPU. Stop them if they run.
for s in redis-server etcd; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
done
