#!/usr/bin/env bash
# gpu-check.sh: the one script to run on a lent GPU machine. It needs only
# the gpuperf binary (build it elsewhere with `make build`; it is bin/gpuperf)
# and the NVIDIA driver; python3 and PyTorch, where present, load the GPU so
# the telemetry has something to show. Everything goes under $OUT.
#
#   OUT=/tmp/gpu-check scripts/gpu-check.sh
#
# Steps (about 3 minutes): the driver's own view (nvidia-smi), describe (table
# and JSON), live telemetry idle and under a PyTorch load, the agent's
# Prometheus endpoint, and `gpuperf bench` with the cpu backend with the
# telemetry sampler on and off, interleaved (on, off, on, off, ...), printing
# the throughput difference (target: under 0.5%) and the sampler's own CPU.
# On a machine without NVML it runs to the end all the same and says so.
set -uo pipefail

cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-out}
BIN=${GPUPERF:-bin/gpuperf}
PAIRS=${PAIRS:-3}           # on/off pairs of bench runs
BENCH_SECS=${BENCH_SECS:-15} # timed seconds per bench run
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/gpu-check.log"
: >"$LOG"

say() { echo "== $*" | tee -a "$LOG"; }
# step NAME CMD...: runs CMD with its output in $OUT/NAME, noting the exit code.
step() {
	local name=$1
	shift
	say "$name: $*"
	local start=$SECONDS
	"$@" >"$OUT/$name" 2>"$OUT/$name.stderr"
	local rc=$?
	echo "   exit $rc after $((SECONDS - start))s" | tee -a "$LOG"
	return 0
}

if [ ! -x "$BIN" ]; then
	echo "gpu-check: $BIN is missing; run 'make build' first" >&2
	exit 1
fi
PY=$(command -v python3 || true)

say "machine"
{
	uname -a
	grep -m1 'model name' /proc/cpuinfo
	nproc
	"$BIN" version
	ldd "$BIN" 2>&1 | head -5
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" >>"$LOG"
if command -v nvidia-smi >/dev/null 2>&1; then
	step nvidia-smi.txt nvidia-smi
	step nvidia-smi-q.txt nvidia-smi -q
	step nvidia-smi-query.csv nvidia-smi --query-gpu=index,name,uuid,serial,pci.bus_id,driver_version,vbios_version,power.limit,ecc.mode.current,mig.mode.current,clocks.max.sm,clocks.max.mem,pcie.link.gen.max,pcie.link.width.max,pcie.link.gen.current,pcie.link.width.current,persistence_mode,pstate,temperature.gpu --format=csv
else
	say "no nvidia-smi on this machine"
fi

step describe.txt "$BIN" describe
step describe.json "$BIN" describe --json
cat "$OUT/describe.txt" | tee -a "$LOG"

step telemetry-cost.txt "$BIN" telemetry --cost 20
cat "$OUT/telemetry-cost.txt" | tee -a "$LOG"
step telemetry-idle.txt "$BIN" telemetry --interval 200ms --count 10
cat "$OUT/telemetry-idle.txt" | tee -a "$LOG"

# Under load: a matmul loop on the GPU for ~12 s while telemetry samples.
LOAD_PID=
if [ -n "$PY" ] && "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
	"$PY" - >"$OUT/torch-load.txt" 2>&1 <<'EOF' &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
end, n = time.time() + 12, 0
while time.time() < end:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize()
    n += 20
print(f"matmuls {n}, TFLOP/s {n * 2 * 8192**3 / 12 / 1e12:.1f}")
EOF
	LOAD_PID=$!
	sleep 3
else
	say "no PyTorch with CUDA: telemetry under load skipped"
fi
step telemetry-load.txt "$BIN" telemetry --interval 500ms --count 12
step telemetry-load.csv "$BIN" telemetry --csv --interval 100ms --count 20
[ -n "$LOAD_PID" ] && wait "$LOAD_PID"
cat "$OUT/telemetry-load.txt" | tee -a "$LOG"
[ -n "$LOAD_PID" ] && cat "$OUT/torch-load.txt" | tee -a "$LOG"

# The agent's Prometheus endpoint, scraped once.
say "agent --metrics-listen"
"$BIN" agent --listen 127.0.0.1:17070 --metrics-listen 127.0.0.1:19400 >"$OUT/agent.stdout" 2>"$OUT/agent.stderr" &
AGENT_PID=$!
sleep 2
if [ -n "$PY" ]; then
	"$PY" -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:19400/metrics", timeout=10).read().decode())' >"$OUT/metrics.txt" 2>&1
elif command -v curl >/dev/null 2>&1; then
	curl -s http://127.0.0.1:19400/metrics >"$OUT/metrics.txt" 2>&1
fi
step describe-agent.txt "$BIN" describe --agent 127.0.0.1:17070
kill "$AGENT_PID" 2>/dev/null
wait "$AGENT_PID" 2>/dev/null
grep -E '^(DCGM_FI_DEV_[A-Z_]+|gpuperf_nvml_available|gpuperf_gpu_info)' "$OUT/metrics.txt" 2>/dev/null | head -20 | tee -a "$LOG"

# bench with the sampler on and off, interleaved so drift hits both alike.
say "bench: cpu backend, Offline, ${BENCH_SECS}s timed, $PAIRS pairs of telemetry on/off"
for i in $(seq 1 "$PAIRS"); do
	for mode in on off; do
		flag=--telemetry=true
		[ $mode = off ] && flag=--telemetry=false
		step "bench-$mode-$i.txt" "$BIN" bench --backend cpu --scenario offline --min-duration "${BENCH_SECS}s" \
			--warmup 3s --telemetry-interval 100ms "$flag" --out "$OUT/bench-$mode-$i"
	done
done

if [ -n "$PY" ]; then
	"$PY" - "$OUT" "$PAIRS" <<'EOF' | tee -a "$LOG" "$OUT/bench-summary.txt"
import json, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
def load(mode, i):
    with open(f"{out}/bench-{mode}-{i}/result.json") as f:
        return json.load(f)
ratios, on_all, off_all, cores = [], [], [], []
for i in range(1, pairs + 1):
    try:
        on, off = load("on", i), load("off", i)
    except OSError as e:
        print(f"pair {i}: missing result ({e})")
        continue
    a, b = on["samples_per_second"], off["samples_per_second"]
    on_all.append(a); off_all.append(b); ratios.append(a / b)
    t = on.get("telemetry") or {}
    s = t.get("sampler", {})
    cores.append(s.get("core_percent", float("nan")))
    gpus = len(t.get("devices", []))
    print(f"pair {i}: on {a:.1f}  off {b:.1f}  on/off {a / b:.4f}  sampler {s.get('core_percent', float('nan')):.4f}% of a core "
          f"({t.get('ticks')} ticks, {gpus} GPU(s), busy {s.get('busy_ns', 0) / max(t.get('ticks', 1), 1) / 1e3:.0f} us/tick)")
if ratios:
    med = statistics.median(ratios)
    print(f"throughput with the sampler vs without: median on/off {med:.4f} ({(med - 1) * 100:+.2f}%), "
          f"mean on {statistics.mean(on_all):.1f} off {statistics.mean(off_all):.1f} samples/s; "
          f"sampler median {statistics.median(cores):.4f}% of one core; target: cost under 0.5%")
    if len(off_all) > 1:
        print(f"run-to-run spread (off): {statistics.stdev(off_all) / statistics.mean(off_all) * 100:.2f}% (stdev/mean)")
EOF
else
	grep -h "samples_per_second\|telemetry" "$OUT"/bench-*.txt | tee -a "$LOG"
fi
say "done in ${SECONDS}s; files in $OUT"
