#!/usr/bin/env bash
# Checks deploy/systemd: the unit with `systemd-analyze verify` and the
# sysusers file with `systemd-sysusers` into a scratch root. systemd-analyze
# exits 0 on a misspelt or unknown setting (it ignores the line), so any
# message it prints fails the check. ExecStart must name a real binary:
# the unit is checked with a copy pointing at the one just built.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in systemd-analyze systemd-sysusers; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool not found: apt-get install systemd" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=${GPUPERF_BIN:-}
if [ -z "$bin" ]; then
  bin="$tmp/gpuperf"
  go build -o "$bin" ./cmd/gpuperf
fi
bin=$(realpath "$bin")

unit=deploy/systemd/gpuperf-agent.service
sed "s#/usr/local/bin/gpuperf#$bin#" "$unit" > "$tmp/gpuperf-agent.service"
if ! out=$(systemd-analyze verify "$tmp/gpuperf-agent.service" 2>&1) || [ -n "$out" ]; then
  echo "$unit: systemd-analyze verify:" >&2
  echo "${out//$tmp\//}" >&2
  exit 1
fi

mkdir -p "$tmp/root/etc"
if ! out=$(systemd-sysusers --root="$tmp/root" "$PWD/deploy/systemd/gpuperf.sysusers" 2>&1) ||
  ! grep -q '^gpuperf:' "$tmp/root/etc/passwd"; then
  echo "deploy/systemd/gpuperf.sysusers: systemd-sysusers:" >&2
  echo "$out" >&2
  exit 1
fi
echo "deploy/systemd: systemd-analyze verify and systemd-sysusers pass"
