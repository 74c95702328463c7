#!/usr/bin/env bash
# Regenerates the committed protobuf code with protoc and the plugin
# versions pinned in go.mod (the `tool` block). `--check` fails when the
# committed code differs from what would be generated.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found: apt-get install protobuf-compiler" >&2
  exit 1
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

out=.
if [ "${1:-}" = "--check" ]; then
  out="$bin/out"
  mkdir -p "$out"
fi
protoc -I . \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out="$out" --go_opt=paths=source_relative \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  proto/gpuperf/v1/*.proto

if [ "${1:-}" = "--check" ]; then
  for f in "$out"/proto/gpuperf/v1/*.go; do
    committed=proto/gpuperf/v1/$(basename "$f")
    if ! cmp -s "$f" "$committed"; then
      echo "generated code is stale: $committed (run make proto)" >&2
      exit 1
    fi
  done
  echo "generated protobuf code is current"
fi
