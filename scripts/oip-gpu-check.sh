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
# summaries on stdout. Environment knobs: PORT (8001), BATCH (Offline
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

ep=127.0.0.1:$port
rc=0
$bin bench --backend kserve --backend-opt endpoint=$ep --backend-opt model=resnet50 \
  --backend-opt batch="$batch" --backend-opt max_inflight="$inflight" --backend-opt connections=4 \
  --model resnet50 --scenario offline --min-duration "$duration" --out "$work/runs/offline" ${EXTRA:-} || rc=$?
$bin bench --backend kserve --backend-opt endpoint=$ep --backend-opt model=resnet50 \
  --model resnet50 --scenario single-stream --min-duration "$duration" --out "$work/runs/single-stream" ${EXTRA:-} || rc=$?

kill $server; wait $server
tail -1 "$work/server.log"
cp "$work/server.log" "$work/runs/"
tar -C "$work" -czf "$out/oip-gpu-check.tgz" runs
exit $rc
