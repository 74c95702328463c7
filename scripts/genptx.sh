#!/usr/bin/env bash
# Regenerates the cuda backend's committed PTX from its CUDA C kernels with
# Debian's clang, no NVIDIA toolkit: each inference/backend/cuda/kernels/
# NAME.cu becomes NAME.ptx. The PTX is only reproducible with the clang
# that made it, so the script insists on the version recorded in
# kernels/CLANG_VERSION. `--check` fails when the committed PTX differs
# from what would be generated (a kernel changed without `make ptx`).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=inference/backend/cuda/kernels
clang=${CLANG:-clang-14}
want=$(cat "$dir/CLANG_VERSION")
if ! command -v "$clang" >/dev/null 2>&1; then
  echo "$clang not found: apt-get install clang-14 (the PTX is made by: $want)" >&2
  exit 1
fi
have=$("$clang" --version | head -1)
if [ "$have" != "$want" ]; then
  echo "$clang is \"$have\"; the committed PTX is made by \"$want\" ($dir/CLANG_VERSION)" >&2
  exit 1
fi

# sm_80 and PTX ISA 7.0: the driver JIT-compiles it for any GPU from the
# A100 on (H100/H200 are sm_90). The WMMA builtins need +ptx70 spelled out.
flags=(-x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_80 -O3 -S
  -Xclang -target-feature -Xclang +ptx70)

out=$PWD/$dir
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
for src in "$dir"/*.cu; do
  name=$(basename "$src" .cu)
  # From inside the folder, so no path of this checkout can reach the output.
  (cd "$dir" && "$clang" "${flags[@]}" "$name.cu" -o "$out/$name.ptx.tmp")
  mv "$out/$name.ptx.tmp" "$out/$name.ptx"
done

if [ "${1:-}" = "--check" ]; then
  for f in "$out"/*.ptx; do
    committed=$dir/$(basename "$f")
    if ! cmp -s "$f" "$committed"; then
      echo "committed PTX is stale: $committed (run make ptx)" >&2
      exit 1
    fi
  done
  for committed in "$dir"/*.ptx; do
    if [ ! -e "$out/$(basename "$committed")" ]; then
      echo "committed PTX is stale: $committed has no .cu (run make ptx)" >&2
      exit 1
    fi
  done
  echo "committed PTX is current"
fi
