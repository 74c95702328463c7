#!/usr/bin/env bash
# The kserve backend on a real GPU: scripts/oip_server.py serves a
# ResNet-50 (random weights) with PyTorch on the GPU, and bin/gpuperf,
# built beforehand on the development machine (`make build`), runs Offline
# and SingleStream against it with NVML telemetry.
#
#   OUT=/tmp/out scripts/oip-gpu-check.sh
#
# Needs python3 with torch and grpcio, and a GPU. Everything lands in
# $OUT/oip-gpu-check.tgz (the run folders), with the server's log and the
# summaries on stdout; after each run, the server's own statistics over the
# timed run (result.json's server_stats: per request the time queued and
# computing on the server) beside the client's latency. Environment knobs: PORT (8001), BATCH (Offline
# samples per request, 16), INFLIGHT (Offline requests in flight, 16),
# DURATION (each run's minimum, 10s), PRECISION (fp32), DEVICE (cuda),
# PYTHON (python3), EXTRA (more bench flags for both runs).
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:?set OUT to the folder for the results}
port=${PORT:-8001}
batch=${BATCH:-16}
inflight=${INFLIGHT:-16}
duration=${DURATION:-10s}
precision=${PRECISION:-fp32}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
work=$(mktemp -d)
bin=bin/gpuperf
[ -x "$bin" ] || { echo "no $bin: run make build first" >&2; exit 1; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
$python -c 'import torch, grpc; print("torch", torch.__version__, "cuda", torch.version.cuda, "grpcio", grpc.__version__)'
# What each NVML call the sampler makes costs here, GPM's included (Hopper
# and newer), and whether GPM is supported in this VM at all.
$bin telemetry --cost 20 || true
$bin describe --json | $python -c '
import json, sys
d = json.load(sys.stdin)
print("platform:", (d.get("virtualization") or {}).get("verdict", {}).get("summary"))
for g in d.get("gpus") or []:
    print("GPU", g.get("index"), g.get("name"), "capabilities:", json.dumps(g.get("capabilities"))[:3000])
' || true

PYTHONUNBUFFERED=1 $python scripts/oip_server.py --port "$port" --device "$device" --model-name resnet50 \
  --precision "$precision" --max-batch 64 --threads 64 >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 180); do
  grep -q "^ready on" "$work/server.log" && break
  kill -0 $server 2>/dev/null || break
  sleep 1
done
cat "$work/server.log"
grep -q "^ready on" "$work/server.log" || { echo "the server is not ready" >&2; exit 1; }

# server_stats DIR prints the server's statistics from the result.json that
# bench wrote into DIR, beside the client's latency and throughput.
server_stats() {
  $python -c '
import json, sys
path = sys.argv[1] + "/result.json"
try:
    with open(path) as f:
        r = json.load(f)
except (OSError, ValueError) as e:
    sys.exit("server stats: no result (%s)" % e)
ms = lambda ns: (ns or 0) / 1e6
lat = r.get("latency") or {}
pct = {round(p["p"], 4): p["ns"] for p in lat.get("percentiles") or []}
scenario = (r.get("effective") or {}).get("scenario", "")
rate = r.get("samples_per_second") or r.get("qps_without_loadgen_overhead") or 0
print("client (%s): %d samples, %.1f samples/s, latency mean %.3f ms, p50 %.3f ms, p99 %.3f ms" % (
    scenario, r.get("samples_completed", 0), rate, ms(lat.get("mean_ns")), ms(pct.get(0.5)), ms(pct.get(0.99))))
st = r.get("server_stats")
if not st:
    print("server: no statistics in result.json")
elif st.get("unavailable"):
    print("server (%s): unavailable: %s" % (st.get("source"), st["unavailable"]))
else:
    ex = st.get("executions", 0)
    print("server (%s): %d requests, %d failed, %d inferences, %d executions (%.1f samples each)" % (
        st.get("source"), st.get("requests", 0), st.get("failed", 0), st.get("inferences", 0), ex,
        st.get("inferences", 0) / ex if ex else 0))
    print("server per request: %.3f ms = queue %.3f + compute input %.3f + infer %.3f + output %.3f (+ %.3f other)" % (
        ms(st.get("request_ns")), ms(st.get("queue_ns")), ms(st.get("compute_input_ns")), ms(st.get("compute_infer_ns")),
        ms(st.get("compute_output_ns")), ms(st.get("request_ns", 0) - sum(st.get(k, 0) for k in (
            "queue_ns", "compute_input_ns", "compute_infer_ns", "compute_output_ns")))))
    if scenario == "SingleStream":  # a query is one request: the rest is the way there and back
        print("client latency - server time: %.3f ms per request (network, gRPC, the client)" % (
            ms(lat.get("mean_ns")) - ms(st.get("request_ns"))))
' "$1" || true
}

ep=127.0.0.1:$port
rc=0
$bin bench --backend kserve --backend-opt endpoint=$ep --backend-opt model=resnet50 \
  --backend-opt batch="$batch" --backend-opt max_inflight="$inflight" --backend-opt connections=4 \
  --model resnet50 --scenario offline --min-duration "$duration" --out "$work/runs/offline" ${EXTRA:-} || rc=$?
server_stats "$work/runs/offline"
$bin bench --backend kserve --backend-opt endpoint=$ep --backend-opt model=resnet50 \
  --model resnet50 --scenario single-stream --min-duration "$duration" --out "$work/runs/single-stream" ${EXTRA:-} || rc=$?
server_stats "$work/runs/single-stream"

kill $server; wait $server
tail -1 "$work/server.log"
cp "$work/server.log" "$work/runs/"
tar -C "$work" -czf "$out/oip-gpu-check.tgz" runs
exit $rc
