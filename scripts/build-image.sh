#!/usr/bin/env bash
# build-image.sh <static binary> <image tag> [Dockerfile]: builds a FROM
# scratch image from the binary and the host's CA bundle (make image). The
# Dockerfile defaults to the agent's, scripts/docker/Dockerfile; the binary
# is copied into the build context under its own name.
set -euo pipefail
bin="$1" tag="$2"
here="$(cd "$(dirname "$0")" && pwd)"
dockerfile="${3:-$here/docker/Dockerfile}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/$(basename "$bin")"
cp "$dockerfile" "$ctx/Dockerfile"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.log" || { cat "$ctx/build.log" >&2; exit 1; }
echo "$tag"
