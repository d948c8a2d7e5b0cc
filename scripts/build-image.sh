#!/usr/bin/env bash
# build-image.sh <agent binary> <image tag>: builds the agent's container
# image from a static binary and the host's CA bundle (make image).
set -euo pipefail
bin="$1" tag="$2"
here="$(cd "$(dirname "$0")" && pwd)"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/ecs-agent"
cp "$here/docker/Dockerfile" "$ctx/Dockerfile"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx/build.log" || { cat "$ctx/build.log" >&2; exit 1; }
echo "$tag"
