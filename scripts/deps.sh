#!/bin/sh
# Installs what the tests need beyond Go: Debian's chromium for the status page's browser test
# (tests/status_browser_test.go). As root with apt-get only; anywhere else it does nothing and
# that test skips, saying why.
set -e
command -v chromium >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
echo "deps: installing chromium (headless browser test of the status page)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
