#!/bin/sh
# Regenerates testdata/v0 (controlplane.db and records.json) with the
# control plane of commit fab846d, the last layout without a schema
# version. Run from anywhere inside the repository:
#   controlplane/store/testdata/genv0/gen.sh
set -eu
commit=fab846d
here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$top" archive "$commit" | tar -x -C "$tmp"
mkdir -p "$tmp/cmd/genv0"
cp "$here/main.go" "$tmp/cmd/genv0/main.go"
(cd "$tmp" && go run ./cmd/genv0 -out "$here/../v0")
echo "wrote $here/../v0 with the control plane of $commit"
