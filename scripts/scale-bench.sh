#!/usr/bin/env bash
# Coordinator scale: N `gpuperf agent` processes on loopback (half baseline,
# half candidate, each its own "host"), one plan that runs a short Offline
# and SingleStream on all of them at once (order parallel), timed, with the
# coordinator's peak RSS. The agents' backend is a simulated device with
# 20 ms per sample, so N agents fit on a 2-core machine and the figure is
# the coordinator's, not the agents' CPU contention.
# Usage: scripts/scale-bench.sh [N] [BIN]
set -euo pipefail
n=${1:-64}
bin=${2:-bin/gpuperf}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

base=$((20000 + RANDOM % 20000))
{
  echo "version: v1"
  echo "agents:"
  for i in $(seq 0 $((n - 1))); do
    role=baseline; [ $((i % 2)) -eq 1 ] && role=candidate
    echo "  - {name: a$i, address: \"127.0.0.1:$((base + i))\", role: $role, host: h$i}"
  done
  cat <<'YAML'
workload:
  backend: slow
  model: resnet50
  settings: {min_duration_ms: 1000, min_query_count: 10, warmup_ms: 200}
scenarios: [offline, single-stream]
profile: quick
repetitions: 1
order: parallel
YAML
  echo "output: $work/out"
} >"$work/plan.yaml"

cat >"$work/agent.yaml" <<'YAML'
backends:
  - {name: slow, kind: sim, options: {latency: "20ms"}}
YAML
for i in $(seq 0 $((n - 1))); do
  "$bin" agent --config "$work/agent.yaml" --listen "127.0.0.1:$((base + i))" 2>"$work/agent$i.log" &
  pids+=($!)
done
# Wait until every agent reports its address.
for i in $(seq 0 $((n - 1))); do
  for _ in $(seq 100); do grep -q "listening on" "$work/agent$i.log" && break; sleep 0.1; done
done

/usr/bin/time -f "coordinator: %e s wall, %M KiB max RSS, %U s user, %S s sys" \
  "$bin" run --plan "$work/plan.yaml" --run-id scale >"$work/run.out" 2>"$work/run.err" || {
  echo "run failed:" >&2; cat "$work/run.err" >&2; exit 1; }
tail -n 1 "$work/run.err"
ok=$(grep -c '"status": "ok"' "$work/out/scale/run.json" || true)
echo "agents: $n, runs ok: $ok of $((n * 2))"
