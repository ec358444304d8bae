#!/bin/bash
# Records DistKV 0.57.4's client and CLI against a fresh single distkv node, one file per
# scenario, into server/testdata/distkv/. Usage: record.sh DISTKV_BIN DKV_VENDOR [SCENARIO...]
# DKV_VENDOR holds DistKV's sources unpacked as in ../shared/docs/distkv-client.md (outside the
# repo). The Go test TestDistKVReplay replays the files without Python.
set -eu
BIN=$1 V=$2; shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../../server/testdata/distkv
export PYTHONPATH=$V/distkv:$V/anyio/src:$V/asyncscope:$V/asyncactor:$V/distmqtt:$V/range_set:$V/asyncclick/src:$V/ruyaml/lib
PY=/usr/bin/python3
SP=48886 PP=48887 # server and proxy client ports
cli() { timeout 20 $PY -W ignore -c "import sys; sys.argv[0]='distkv'; from distkv.command import cmd; cmd()" client -h 127.0.0.1 -p $PP "$@"; }

cli_run() { # $1: "" or -m
	local m=$1
	cli $m data c.a set -e : 42
	cli $m data c.a get
	cli $m data c set -v : top
	cli $m data c.b.d set -e : 7
	# With -m, DistKV's CLI fails itself on list and get -r (data.py passes nchain twice).
	if [ -z "$m" ]; then cli data c list; cli data c get -r; fi
	(cli $m data c monitor > /dev/null 2>&1 &)
	sleep 2
	cli $m data c.a set -e : 43
	cli $m data c.b.d delete
	sleep 2.5
	cli $m data c.a delete
	cli $m data c.none delete
}

cli_new() { # DistKV's CLI on the actions added last: log, kill_node, auth (auth_info first)
	cli data n.a set -e : 1
	cli -m log dest changes
	cli data n.b set -e : 2
	cli -m log stop
	cli log dest ../escape || true
	cli -m internal kill nobody || true
	cli -m internal kill rec || true
	cli auth list || true
}

record() { # $1: scenario name; then its command
	local name=$1; shift
	local dir; dir=$(mktemp -d)
	mkdir "$dir/clog"
	"$BIN" server --name rec --client-addr 127.0.0.1:$SP --data-dir "$dir/data" --client-log-dir "$dir/clog" > "$dir/server.log" 2>&1 &
	local spid=$!
	$PY "$HERE/record.py" "$OUT/$name.txt.tmp" $PP $SP &
	local ppid=$!
	sleep 1.5
	local rc=0
	"$@" || rc=$?
	sleep 1
	kill $ppid; wait $ppid 2>/dev/null || true
	kill $spid; wait $spid 2>/dev/null || true
	{ echo "# $name: recorded $(date -u +%F) with DistKV 0.57.4 against distkv $(git -C "$HERE" rev-parse --short HEAD)"
	  cat "$OUT/$name.txt.tmp"; } > "$OUT/$name.txt"
	rm -f "$OUT/$name.txt.tmp"; rm -rf "$dir"
	echo "recorded $name: $(grep -c '^[CS]' "$OUT/$name.txt") messages, client exit $rc"
}

mkdir -p "$OUT"
for s in "${@:-cli-plain cli-meta cli-new values misc refused flow newacts}"; do
	for one in $s; do
		case $one in
		cli-plain) record cli-plain cli_run "" ;;
		cli-meta) record cli-meta cli_run -m ;;
		cli-new) record cli-new cli_new ;;
		*) record "$one" $PY -W ignore "$HERE/scenarios.py" "$one" $PP ;;
		esac
	done
done
