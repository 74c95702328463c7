#!/usr/bin/env bash
# A short run of the release binary (scripts/build-release.sh's, the one
# the container image carries): its version, an agent on loopback with the
# health port the Helm chart's probes use, a Describe through it, and one
# quick benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${GPUPERF_BIN:-bin/gpuperf}")
tmp=$(mktemp -d)
agent_pid=
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" version
"$bin" agent --listen 127.0.0.1:0 --health-listen 127.0.0.1:0 --label smoke=1 2>"$tmp/agent.log" &
agent_pid=$!
for _ in $(seq 100); do
  grep -q "health on" "$tmp/agent.log" && grep -q "listening on" "$tmp/agent.log" && break
  sleep 0.1
done
addr=$(sed -n 's/^gpuperf agent listening on //p' "$tmp/agent.log")
health=$(sed -n 's/^gpuperf agent health on \([^ ]*\).*/\1/p' "$tmp/agent.log")
if [ -z "$addr" ] || [ -z "$health" ]; then
  echo "smoke: the agent did not start:" >&2
  cat "$tmp/agent.log" >&2
  exit 1
fi
"$bin" health "$health"
"$bin" describe --agent "$addr" --json >"$tmp/describe.json"
grep -q '"gpuperf_version"' "$tmp/describe.json"
kill -TERM "$agent_pid"
wait "$agent_pid"
agent_pid=
(cd "$tmp" && "$bin" bench --backend sim --backend-opt servers=4 --backend-opt latency=1ms --scenario single-stream --min-duration 1s >/dev/null)
echo "smoke: $("$bin" version) serves, answers its health probe and benchmarks"
