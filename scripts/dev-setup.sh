#!/usr/bin/env bash
# dev-setup.sh makes this machine ready to run and test the project. It is
# idempotent: every step checks first and does nothing when already done.
#
#   - the Docker engine is running (installs Debian's docker.io and starts
#     dockerd when it is missing);
#   - the local test image ecs-agent-test/busybox:latest exists (FROM scratch
#     plus Debian's static busybox; no registry is needed);
#   - the test tools are installed: AWS's amazon-ec2-metadata-mock and
#     staticcheck (Go module proxy), the aws CLI must already be present.
#
# Every missing piece that cannot be installed stops the script with a message
# that says what to do; make test and CI rely on that instead of skipping.
set -euo pipefail

log() { printf 'dev-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

GOBIN_DIR="$(go env GOPATH)/bin"
TEST_IMAGE="ecs-agent-test/busybox:latest"
AEMM_VERSION="v1.13.0"
STATICCHECK_VERSION="2026.2.2"

apt_install() {
	log "installing Debian packages: $*"
	$SUDO apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for <seconds> <command...>: polls until the command succeeds.
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

ensure_docker() {
	if docker info >/dev/null 2>&1; then return; fi
	if ! command -v dockerd >/dev/null 2>&1; then apt_install docker.io; fi
	if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
		$SUDO systemctl start docker || true
	fi
	if ! docker info >/dev/null 2>&1; then
		log "starting dockerd (log: /var/log/dockerd-dev.log)"
		$SUDO sh -c 'nohup dockerd >/var/log/dockerd-dev.log 2>&1 &'
	fi
	wait_for 60 docker info || die "the Docker engine did not come up within 60 s; see /var/log/dockerd-dev.log"
	log "Docker engine $(docker version --format '{{.Server.Version}}') is running"
}

ensure_test_image() {
	local busybox=/bin/busybox
	if ! [ -x "$busybox" ] || ! file_is_static "$busybox"; then apt_install busybox-static; fi
	local want
	want="$(sha256sum "$busybox" | cut -c1-16)"
	if [ "$(docker image inspect --format '{{index .Config.Labels "busybox-sha"}}' "$TEST_IMAGE" 2>/dev/null)" = "$want" ]; then
		return
	fi
	local ctx
	ctx="$(mktemp -d)"
	trap 'rm -rf "$ctx"' RETURN
	cp "$busybox" "$ctx/busybox"
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
LABEL busybox-sha="$want"
CMD ["/bin/sh"]
DOCKERFILE
	log "building $TEST_IMAGE from Debian's busybox-static"
	docker build -q -t "$TEST_IMAGE" "$ctx" >/dev/null 2>"$ctx/build.log" || { cat "$ctx/build.log" >&2; die "building $TEST_IMAGE failed"; }
}

file_is_static() { # busybox-static installs a static /bin/busybox; the dynamic one would not run FROM scratch
	dpkg -S "$1" 2>/dev/null | grep -q busybox-static
}

ensure_go_tool() { # ensure_go_tool <binary> <module@version>
	if [ -x "$GOBIN_DIR/$1" ] || command -v "$1" >/dev/null 2>&1; then return; fi
	log "installing $1 ($2)"
	GOFLAGS= go install "$2"
}

ensure_aws_cli() {
	command -v aws >/dev/null 2>&1 && return
	log "the aws CLI is missing; trying pip"
	python3 -m pip install -q awscli >/dev/null 2>&1 || true
	command -v aws >/dev/null 2>&1 || die "the aws CLI is required (tests drive the control plane with it): install it with 'pip install awscli' or Debian's awscli package"
}

command -v go >/dev/null 2>&1 || die "Go is required (https://go.dev/dl/)"
ensure_docker
ensure_test_image
ensure_go_tool ec2-metadata-mock "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$AEMM_VERSION"
ensure_go_tool staticcheck "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
ensure_aws_cli
log "ready: Docker engine, $TEST_IMAGE, ec2-metadata-mock, staticcheck, aws CLI"
