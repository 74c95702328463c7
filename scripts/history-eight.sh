#!/usr/bin/env bash
# Eight gpuperf processes recording into one run-history store at once:
# eight `gpuperf bench` runs started together (one record each), then eight
# `gpuperf import` processes started together, each recording every
# published MLPerf system three times through links of its own (each link
# is a new record, so 24 × the systems in all, with their runs' metrics).
# Prints, per phase, the records the history holds, the distinct trees
# among them, and the processes that failed or met a locked database.
# Usage: scripts/history-eight.sh STORE [MLPERF] [BIN]
set -euo pipefail
store=${1:?usage: scripts/history-eight.sh STORE [MLPERF] [BIN]}
mlperf=$(realpath "${2:-../shared/testdata/mlperf}")
bin=$(realpath "${3:-bin/gpuperf}")
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() { # kind: records, distinct trees
  "$bin" history --store "$store" --kind "$1" --limit 0 --format csv |
    tail -n +2 | awk -F, '{print $1 "," $5}' | sort -u |
    awk -F, '{runs[$1]; trees[$2]} END {printf "%d records, %d distinct trees\n", length(runs), length(trees)}'
}
check() { # logs...: processes that failed or met a lock
  local bad=0
  for f in "$@"; do
    if ! grep -q "^exit 0$" "$f" || grep -qiE "locked|busy|not updated" "$f"; then bad=$((bad + 1)); fi
  done
  echo "$bad of $# processes failed or met a lock"
}

for i in 1 2 3 4 5 6 7 8; do
  ( "$bin" bench --backend sim --backend-opt servers=4 --backend-opt latency=1ms --scenario offline \
      --min-duration 500ms --expected-qps 4000 --out "$work/bench/$i" --store "$store" >"$work/bench.$i" 2>&1
    echo "exit $?" >>"$work/bench.$i" ) &
done
wait
echo "bench:  $(count bench); $(check "$work"/bench.?)"

for p in 1 2 3 4 5 6 7 8; do
  for c in 1 2 3; do mkdir -p "$work/links/$p/$c" && ln -s "$mlperf" "$work/links/$p/$c/mlperf"; done
done
start=$(date +%s.%N)
for p in 1 2 3 4 5 6 7 8; do
  ( "$bin" import "$work/links/$p/1/mlperf" "$work/links/$p/2/mlperf" "$work/links/$p/3/mlperf" \
      --store "$store" >"$work/import.$p" 2>&1
    echo "exit $?" >>"$work/import.$p" ) &
done
wait
end=$(date +%s.%N)
systems=$(grep -c "^run " "$work/import.1")
echo "import: $(count mlperf) (want $((8 * systems))); $(check "$work"/import.?); $(echo "$end - $start" | bc) s"
