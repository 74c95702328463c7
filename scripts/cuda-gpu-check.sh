#!/usr/bin/env bash
# cuda-gpu-check.sh: the cuda backend on a GPU machine that has only the
# NVIDIA driver: no Go, no CUDA toolkit, no server. Build the binary on the
# development machine (`make build`; bin/gpuperf) and run this beside it.
#
#   OUT=/tmp/cuda-check scripts/cuda-gpu-check.sh
#
# Steps, all written under $OUT (about 7 minutes on an H100/H200):
#   1. the driver's view (nvidia-smi) and `gpuperf describe --probe`:
#      launch latency, pinned/pageable copies, GEMM TFLOP/s against peak;
#   2. `gpuperf bench --backend cuda` in all four scenarios (BERT-base,
#      fp16, batches of up to 8 on 2 streams), each checking its first
#      batch against the Go reference before the timed run;
#   3. Offline and SingleStream again with graphs=true, fp32 Offline, so
#      launch overhead and the fp32 path show;
#   4. an A/A `gpuperf compare` of two agents offering cuda on this one
#      GPU (sequential, three repetitions of Offline and SingleStream).
# Every step's exit code is logged and the script goes on; it exits 1 if
# any step failed. On a machine without the driver every GPU step fails
# at once with the backend's one-line reason (a dry run of the script).
# Knobs: GPUPERF (bin/gpuperf), DURATION (each bench's minimum, 10s),
# OPTS (extra --backend-opt KEY=VALUE for every cuda run, e.g. layers=24),
# PORT0 (the agents' first port, 7171).
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${GPUPERF:-bin/gpuperf}
OUT=${OUT:?set OUT to the folder for the results}
DURATION=${DURATION:-10s}
PORT0=${PORT0:-7171}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/cuda-gpu-check.log"
: >"$LOG"
failed=0
opts=()
for o in ${OPTS:-}; do opts+=(--backend-opt "$o"); done

say() { echo "== $*" | tee -a "$LOG"; }
# step NAME CMD...: runs CMD with its output in $OUT/NAME.txt, logging the
# exit code and the last lines of its errors.
step() {
	local name=$1
	shift
	say "$name: $*"
	local start=$SECONDS
	"$@" >"$OUT/$name.txt" 2>"$OUT/$name.stderr"
	local rc=$?
	echo "   exit $rc after $((SECONDS - start))s" | tee -a "$LOG"
	if [ $rc -ne 0 ]; then
		failed=1
		tail -3 "$OUT/$name.stderr" | sed 's/^/   /' | tee -a "$LOG"
	fi
	return 0
}

[ -x "$BIN" ] || { echo "cuda-gpu-check: $BIN is missing; run 'make build' first" >&2; exit 1; }

say "machine"
{
	uname -a
	"$BIN" version
	nproc
	ls -l /dev/nvidia* 2>&1 | head -5
	ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libnvidia-ml' || echo "no libcuda.so.1 or libnvidia-ml in ldconfig"
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" >>"$LOG"
if command -v nvidia-smi >/dev/null 2>&1; then
	step nvidia-smi nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,clocks.max.sm,power.limit,pcie.link.gen.max,pcie.link.width.max,virtualization_mode --format=csv
else
	say "no nvidia-smi on this machine"
fi

# 1. The probe.
step describe-probe "$BIN" describe --probe
step describe-probe-json "$BIN" describe --probe --json
cat "$OUT/describe-probe.txt" >>"$LOG"

# 2. Every scenario, the defaults (BERT-base fp16).
for sc in offline single-stream multi-stream server; do
	step "bench-$sc" "$BIN" bench --backend cuda "${opts[@]}" --model bert --scenario "$sc" \
		--min-duration "$DURATION" --out "$OUT/runs/bench-$sc"
	grep -E 'Result|samples/s|latency|INVALID|VALID' "$OUT/bench-$sc.txt" 2>/dev/null | head -6 | sed 's/^/   /' | tee -a "$LOG"
done

# 3. Graphs on (launch overhead), and the fp32 path.
for sc in offline single-stream; do
	step "bench-$sc-graphs" "$BIN" bench --backend cuda "${opts[@]}" --backend-opt graphs=true --model bert \
		--scenario "$sc" --min-duration "$DURATION" --out "$OUT/runs/bench-$sc-graphs"
	grep -E 'samples/s|latency' "$OUT/bench-$sc-graphs.txt" 2>/dev/null | head -3 | sed 's/^/   /' | tee -a "$LOG"
done
step bench-offline-fp32 "$BIN" bench --backend cuda "${opts[@]}" --backend-opt dtype=fp32 --model bert \
	--scenario offline --min-duration "$DURATION" --out "$OUT/runs/bench-offline-fp32"

# 4. A/A: two agents on this GPU, one run at a time.
cat >"$OUT/agent.yaml" <<YAML
backends:
  - name: gpu
    kind: cuda
YAML
for o in ${OPTS:-}; do
	[ "$(grep -c options "$OUT/agent.yaml")" = 0 ] && echo "    options:" >>"$OUT/agent.yaml"
	echo "      ${o%%=*}: \"${o#*=}\"" >>"$OUT/agent.yaml"
done
cat >"$OUT/plan.yaml" <<YAML
version: v1
agents:
  - {name: baseline, address: "127.0.0.1:$PORT0", role: baseline}
  - {name: candidate, address: "127.0.0.1:$((PORT0 + 1))", role: candidate}
workload: {backend: gpu, model: bert}
scenarios: [offline, single-stream]
profile: quick
repetitions: 3
order: sequential
thresholds: {min_retained_pct: 95, equivalence_margin_pct: 3}
output: $OUT/compare
YAML
pids=()
for i in 0 1; do
	"$BIN" agent --config "$OUT/agent.yaml" --listen "127.0.0.1:$((PORT0 + i))" >"$OUT/agent-$i.log" 2>&1 &
	pids+=($!)
done
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
sleep 2
for i in 0 1; do
	if ! kill -0 "${pids[$i]}" 2>/dev/null; then
		say "agent $i exited: $(tail -1 "$OUT/agent-$i.log")"
	fi
done
step compare-aa "$BIN" compare --plan "$OUT/plan.yaml" --run-id aa --report-dir "$OUT/compare-report"
tail -25 "$OUT/compare-aa.txt" | tee -a "$LOG"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
trap - EXIT

say "done: everything is under $OUT (failed steps: $failed)"
exit $failed
