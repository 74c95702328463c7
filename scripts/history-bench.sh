#!/usr/bin/env bash
# `gpuperf history` and `gpuperf trend` on a store of N nightly comparisons
# (default 1,000: three scenarios each, four repetitions a side, real-size
# host fingerprints; a 3-point drop in the last tenth), recorded by the
# history's own seeder. Each command runs three times; the line gives the
# three wall times, the three CPU times (user + system) and the largest peak
# RSS.
# Usage: scripts/history-bench.sh STORE [N] [BIN]   (STORE must be new or empty)
set -euo pipefail
store=${1:?usage: scripts/history-bench.sh STORE [N] [BIN]}
n=${2:-1000}
bin=${3:-bin/gpuperf}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

GPUPERF_SEED_STORE=$store GPUPERF_SEED_NIGHTS=$n go test -count=1 -run '^TestSeedStore$' -v ./results/history/ | grep -E "recorded|FAIL" || true

time_it() {
  local walls=() cpus=() rss=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$bin" "$@" --store "$store" >"$out/stdout" 2>"$out/stderr" || true
    read -r wall user sys kib <"$out/time"
    walls+=("$wall")
    cpus+=("$(echo "$user + $sys" | bc)")
    [ "$kib" -gt "$rss" ] && rss=$kib
  done
  printf '%-50s wall %s s; CPU %s s; %d MiB max RSS; %d KiB out\n' "gpuperf $*" "${walls[*]}" "${cpus[*]}" $((rss / 1024)) $(($(wc -c <"$out/stdout") / 1024))
}
time_it history
time_it history --limit 0
time_it history --limit 0 --format csv
time_it history --limit 0 --format json
time_it history --limit 0 --scenario server --verdict equivalent
time_it trend
time_it trend --metric candidate
time_it trend --format html --output "$out/t.html"
time_it trend --format png --output "$out/t.png"
