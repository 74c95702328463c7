#!/usr/bin/env bash
# Neighbour loads stop with their run: on Ctrl-C and when the measured
# agent dies mid-run. Three real agents on loopback (bin/gpuperf, from
# `make build`): two measured ones on the sim backend and a neighbour that
# runs a cpu load (2 cores, flat out) during their timed runs. The
# neighbour runs in a session of its own (setsid), so that its load gets
# the CPU share a separate tenant would. For each case the script prints
# the neighbour agent's CPU (from /proc/<pid>/stat) while its load runs and
# in the two seconds after gpuperf has exited, gpuperf's exit code (130
# interrupted, 1 a failed run) and the neighbour's own log of the stop.
#
#   scripts/neighbour-stop-check.sh
#
# Environment knobs: PORT (the first of three, 17071), KEEP (leave the
# work folder).
set -uo pipefail
cd "$(dirname "$0")/.."

g=$PWD/bin/gpuperf
port=${PORT:-17071}
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
cat >"$work/plan.yaml" <<EOF
version: v1
agents:
  - {name: base, address: "127.0.0.1:$port", role: baseline, neighbour_agent: {address: "127.0.0.1:$((port + 1))"}}
  - {name: cand, address: "127.0.0.1:$((port + 2))", role: candidate, neighbour_agent: {address: "127.0.0.1:$((port + 1))"}}
workload:
  backend: sim
  model: resnet50
  settings: {min_duration_ms: 3000}
scenarios: [offline]
profile: quick
repetitions: 2
output: $work/out
interference:
  - {name: hog, kind: cpu, cores: 2, duty_cycle: 1.0}
EOF

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, 100 per CPU second

check() { # check NAME: run the plan, interrupt it (ctrl-c) or kill the baseline's agent (kill)
	local how=$1 id=check-$1
	"$g" agent --log-level info --listen "127.0.0.1:$port" 2>"$work/base.log" &
	local base=$!
	setsid "$g" agent --log-level info --listen "127.0.0.1:$((port + 1))" 2>"$work/nb-$how.log" &
	local nb=$!
	"$g" agent --log-level info --listen "127.0.0.1:$((port + 2))" 2>"$work/cand.log" &
	local cand=$!
	sleep 1
	"$g" compare --plan "$work/plan.yaml" --run-id "$id" >"$work/compare-$how.out" 2>&1 &
	local plan=$!
	for _ in $(seq 1 1200); do
		grep -q "neighbour load started.*for=$id/base" "$work/nb-$how.log" && break
		sleep 0.1
	done
	sleep 1
	local c0 c1
	c0=$(ticks "$nb"); sleep 1; c1=$(ticks "$nb")
	echo "$how: the neighbour agent used $((c1 - c0)) ticks of CPU in 1 s while its load ran (100 = one core)"
	if [ "$how" = ctrl-c ]; then kill -INT "$plan"; else kill -9 "$base"; fi
	wait "$plan"
	echo "$how: gpuperf compare exited $?"
	grep -h "neighbour load stopped\|neighbour load cancelled" "$work/nb-$how.log" | grep "for=$id" | sed "s/^/$how: neighbour: /"
	c0=$(ticks "$nb"); sleep 2; c1=$(ticks "$nb")
	echo "$how: the neighbour agent used $((c1 - c0)) ticks of CPU in the 2 s after gpuperf exited"
	kill "$base" "$nb" "$cand" 2>/dev/null
	wait 2>/dev/null
}

check ctrl-c
check kill
