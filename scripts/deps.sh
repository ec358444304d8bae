#!/bin/sh
# Installs what the tests need beyond Go: Debian's chromium for the status page's browser test
# (tests/status_browser_test.go). Only as root with apt-get; anywhere else, or if the install
# fails, it says so and goes on: that test then skips, saying why.
command -v chromium >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
echo "deps: installing chromium (headless browser test of the status page)"
export DEBIAN_FRONTEND=noninteractive
lock="-o DPkg::Lock::Timeout=300"
if ! { apt-get $lock update -qq >/dev/null &&
	apt-get $lock install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
	echo "deps: could not install chromium; the browser test will skip" >&2
fi
exit 0
