#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for the given time (default 5s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-5s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  pkg=./$(dirname "${f#./}")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $pkg $name ($t)"
    go test -run=NONE -fuzz="^${name}\$" -fuzztime="$t" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; exit 1; }
  done
done
echo "fuzz: all targets clean"
