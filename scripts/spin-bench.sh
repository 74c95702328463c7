#!/usr/bin/env bash
# The load generator's own cost (issue 18), side by side and interleaved:
# for each round, each binary and policy runs the null backend's Server
# scenario for 10 s at 1,500 and 5,000 QPS and prints the generator's CPU
# (the process's, and its issuing goroutine's), the issue delay and the
# spin margin. Beside them, scripts/timerfloor.c (built with cc) plays the
# same rate in C with the same timer, sleeping to the arrival and sleeping
# to 25 µs before it: the host's floor, with no runtime in the way.
#
#   scripts/spin-bench.sh wait [ROUNDS]        the table above (default 3 rounds)
#   scripts/spin-bench.sh ceiling [QPS...]     the Server ceiling, 10 ms p99, 10 s
#                                              (default 6000000 7000000)
#   scripts/spin-bench.sh aa [ROUNDS]          the embedded A/A comparison (cpu
#                                              backend), its ± per scenario
#                                              (default 5 rounds)
#
# BIN (default bin/gpuperf) is the new binary; POLICIES (default "auto never
# always") the policies it runs; OLD optional older binaries to run beside it,
# as LABEL=PATH words ("old=/tmp/gpuperf-2430ab0 prev=/tmp/gpuperf-388a898")
# or one bare path (labelled old). FLOOR=0 leaves the C floor out. The load
# average is printed before and after every round: quote it with the figures.
set -euo pipefail
mode=${1:-wait}
shift || true
bin=${BIN:-bin/gpuperf}
old=${OLD:-}
policies=${POLICIES:-auto never always}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# olds prints "label path" for each older binary.
olds() {
  for o in $old; do
    case $o in
    *=*) echo "${o%%=*} ${o#*=}" ;;
    *) echo "old $o" ;;
    esac
  done
}
while read -r label path; do
  [ -x "$path" ] || { echo "OLD: $label=$path is not an executable" >&2; exit 1; }
done < <(olds)

floor=""
if [ "${FLOOR:-1}" != 0 ] && [ "$mode" = wait ]; then
  if cc -O2 -o "$work/timerfloor" "$(dirname "$0")/timerfloor.c" -lm 2>"$work/cc.txt"; then
    floor=$work/timerfloor
  else
    echo "no C floor: cc failed ($(head -1 "$work/cc.txt"))" >&2
  fi
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }

# variants prints "label binary extra-flags" lines.
variants() {
  olds
  for p in $policies; do echo "$p $bin --spin $p"; done
}

# bench runs one Server run and prints its figures in one line.
bench() { # label qps binary flags...
  local label=$1 qps=$2
  shift 2
  local out="$work/run"
  local status=VALID
  "$@" bench --backend null --scenario server --target-qps "$qps" --target-latency 10ms \
    --min-duration 10s --warmup 1s --telemetry=false --out "$out" >"$work/text" 2>&1 || status="INVALID/failed($?)"
  local gen wait
  gen=$(grep '^gpuperf: generator issue delay' "$work/text" || true)
  wait=$(grep '^gpuperf: generator wait' "$work/text" || true)
  printf '%-7s %7s QPS  %-14s  %s\n' "$label" "$qps" "$status" \
    "$(sed -E 's/^gpuperf: generator issue delay (p50 [^ ]+ p99 [^ ]+).*generator CPU ([0-9]+%).*/delay \1, process CPU \2/' <<<"$gen")"
  [ -z "$wait" ] || printf '%34s%s\n' "" "$(sed -E 's/^gpuperf: generator wait: //' <<<"$wait")"
  rm -rf "$out"
}

case $mode in
wait)
  rounds=${1:-3}
  for r in $(seq 1 "$rounds"); do
    echo "round $r, load average $(load)"
    for qps in 1500 5000; do
      while read -r label b flags; do
        # shellcheck disable=SC2086
        bench "$label" "$qps" "$b" $flags
      done < <(variants)
      if [ -n "$floor" ]; then
        for margin in 0 25; do
          printf '%-7s %7s QPS  %-14s  %s\n' "C" "$qps" "" "$("$floor" "$qps" 10 "$margin" | sed 's/^timerfloor [0-9]* QPS, //')"
        done
      fi
    done
  done
  echo "load average $(load)"
  ;;
ceiling)
  [ $# -gt 0 ] || set -- 6000000 7000000
  echo "load average $(load)"
  for qps in "$@"; do
    while read -r label b flags; do
      # shellcheck disable=SC2086
      bench "$label" "$qps" "$b" $flags
      grep -E '^(Completed samples per second|99.00 percentile latency)' "$work/text" | sed 's/^/        /' || true
    done < <(policies=${POLICIES:-auto} variants)
  done
  echo "load average $(load)"
  ;;
aa)
  rounds=${1:-5}
  for r in $(seq 1 "$rounds"); do
    echo "round $r, load average $(load)"
    for b in $(olds | cut -d' ' -f2) $bin; do
      "$b" compare --output "$work/aa" --run-id "r$r" >"$work/aa.txt" 2>&1 || true
      echo "  $b:"
      # report.json, not the terminal table, whose layout changed.
      python3 - "$work/aa/r$r/report.json" <<'PY' || echo "    no report.json"
import json, sys
for s in json.load(open(sys.argv[1]))["scenarios"]:
    iv = s.get("interval") or {}
    hw = iv.get("half_width_pct")
    r = s.get("retained_pct")
    print("    %-12s %-12s retained %s  ±%s" % (s["scenario"], s.get("status", ""),
          "%.1f%%" % r if r is not None else "n/a", "%.1f" % hw if hw is not None else "n/a"))
PY
      rm -rf "$work/aa"
    done
  done
  echo "load average $(load)"
  ;;
*)
  echo "usage: $0 wait|ceiling|aa [ARGS]" >&2
  exit 2
  ;;
esac
