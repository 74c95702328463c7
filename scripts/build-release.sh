#!/usr/bin/env bash
# Builds the release binary. CI (.ci/run) and deploy/Dockerfile's build
# stage run this same script, so the image carries the binary CI tested:
# glibc, cgo on (go-nvml), the version stamped in.
#
#   VERSION  the version `gpuperf version` prints (default: git describe)
#   OUT      where the binary goes (default: bin/gpuperf)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-bin/gpuperf}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
export CGO_ENABLED=1
# go-nvml's cgo compiles NVML 13's header, which marks functions gpuperf
# still calls on older drivers (behind symbol checks) deprecated.
export CGO_CFLAGS=${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}
go build -trimpath -ldflags "-X main.version=$version" -o "$out" ./cmd/gpuperf
# The stamp took: the binary names the version it was given.
got=$("$out" version)
if [ "$got" != "gpuperf $version" ]; then
  echo "build-release: $out version prints \"$got\", want \"gpuperf $version\"" >&2
  exit 1
fi
echo "$got -> $out"
