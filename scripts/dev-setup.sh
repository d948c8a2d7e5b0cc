#!/usr/bin/env bash
# dev-setup.sh makes this machine ready to run and test the project. It is
# idempotent: every step checks first and does nothing when already done.
#
#   - the Docker engine is running (installs Debian's docker.io and starts
#     dockerd when it is missing);
#   - the local test image ecs-agent-test/busybox:latest exists (FROM scratch
#     plus Debian's static busybox; no registry is needed);
#   - the test tools are installed: AWS's amazon-ec2-metadata-mock and
#     staticcheck (Go module proxy), the aws CLI must already be present;
#   - a local registry with basic auth runs on 127.0.0.1:5000 (Debian's
#     docker-registry, config from scripts/registry/config.yml) for the pull
#     and registry-auth tests. Its state lives in $ECS_TEST_REGISTRY_DIR
#     (default /var/tmp/ecs-agent-test-registry): storage, htpasswd, the
#     generated password (file "password", user "ecs-test"), pidfile and log.
#     It holds ecs-test/busybox:latest and :v2, pushed from the test image.
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
STATICCHECK_VERSION="v0.8.2" # release 2026.2.2; the module proxy knows only the semver tag
REGISTRY_ADDR="127.0.0.1:5000"
REGISTRY_USER="ecs-test"
REGISTRY_DIR="${ECS_TEST_REGISTRY_DIR:-/var/tmp/ecs-agent-test-registry}"
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"

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

# registry_status prints the HTTP status of GET /v2/ with the given curl auth
# arguments, or 000 when nothing answers.
registry_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://$REGISTRY_ADDR/v2/" 2>/dev/null || true
}

ensure_registry() {
	if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
		apt_install docker-registry apache2-utils curl
	fi
	# Debian's package may start its own registry on :5000 with its own
	# config; ours must own the port.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
		log "stopping the distribution's docker-registry service: the tests' registry uses $REGISTRY_ADDR"
		$SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
	fi
	mkdir -p "$REGISTRY_DIR/storage"
	chmod 700 "$REGISTRY_DIR"
	if [ ! -s "$REGISTRY_DIR/password" ]; then
		(umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$REGISTRY_DIR/password")
	fi
	local password
	password="$(cat "$REGISTRY_DIR/password")"
	if [ ! -s "$REGISTRY_DIR/htpasswd" ] || ! htpasswd -vb "$REGISTRY_DIR/htpasswd" "$REGISTRY_USER" "$password" >/dev/null 2>&1; then
		htpasswd -Bbc "$REGISTRY_DIR/htpasswd" "$REGISTRY_USER" "$password" >/dev/null 2>&1 || die "htpasswd could not write $REGISTRY_DIR/htpasswd"
	fi
	sed "s|@STATE_DIR@|$REGISTRY_DIR|g" "$SCRIPT_DIR/registry/config.yml" >"$REGISTRY_DIR/config.yml.new"
	local restart=false
	if ! cmp -s "$REGISTRY_DIR/config.yml.new" "$REGISTRY_DIR/config.yml" 2>/dev/null; then
		mv "$REGISTRY_DIR/config.yml.new" "$REGISTRY_DIR/config.yml"
		restart=true
	else
		rm -f "$REGISTRY_DIR/config.yml.new"
	fi

	local pid=""
	if [ -s "$REGISTRY_DIR/registry.pid" ]; then pid="$(cat "$REGISTRY_DIR/registry.pid")"; fi
	local ours=false
	if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v docker-registry)")" ]; then ours=true; fi
	if $ours && { $restart || [ "$(registry_status -u "$REGISTRY_USER:$password")" != 200 ]; }; then
		log "restarting the test registry (pid $pid)"
		kill "$pid" 2>/dev/null || true
		wait_for 10 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
		ours=false
	fi
	if ! $ours; then
		if [ "$(registry_status)" != 000 ]; then
			die "something else answers on $REGISTRY_ADDR; stop it (the tests' registry must own that port)"
		fi
		log "starting the test registry on $REGISTRY_ADDR (log: $REGISTRY_DIR/registry.log)"
		setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_DIR/registry.log" 2>&1 </dev/null &
		echo $! >"$REGISTRY_DIR/registry.pid"
	fi
	wait_for 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -u '$REGISTRY_USER:$password' http://$REGISTRY_ADDR/v2/)\" = 200 ]" ||
		die "the test registry does not answer on $REGISTRY_ADDR with its credentials; see $REGISTRY_DIR/registry.log"
	[ "$(registry_status)" = 401 ] || die "the test registry on $REGISTRY_ADDR answers without credentials; basic auth is not configured"
	push_registry_images "$password"
}

# push_registry_images puts the test image in the registry as
# ecs-test/busybox:latest and :v2 unless both are there. The docker client
# config is a throw-away one, so no credentials are left in ~/.docker, and
# the local registry tags are removed again: the tests must pull them.
push_registry_images() {
	local password="$1" tag missing=false
	for tag in latest v2; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$REGISTRY_USER:$password" \
			-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
			"http://$REGISTRY_ADDR/v2/ecs-test/busybox/manifests/$tag")" = 200 ] || missing=true
	done
	$missing || return 0
	local cfg
	cfg="$(mktemp -d)"
	log "pushing $TEST_IMAGE to $REGISTRY_ADDR/ecs-test/busybox:latest and :v2"
	printf '%s' "$password" | docker --config "$cfg" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY_ADDR" >/dev/null 2>"$cfg/err" ||
		{ cat "$cfg/err" >&2; rm -rf "$cfg"; die "docker login $REGISTRY_ADDR failed"; }
	for tag in latest v2; do
		docker tag "$TEST_IMAGE" "$REGISTRY_ADDR/ecs-test/busybox:$tag"
		docker --config "$cfg" push "$REGISTRY_ADDR/ecs-test/busybox:$tag" >/dev/null 2>"$cfg/err" ||
			{ cat "$cfg/err" >&2; rm -rf "$cfg"; die "docker push $REGISTRY_ADDR/ecs-test/busybox:$tag failed"; }
		docker rmi "$REGISTRY_ADDR/ecs-test/busybox:$tag" >/dev/null
	done
	rm -rf "$cfg"
}

# ensure_host_tools installs what the host-side tests run: iptables and ip
# (ecs-init's rules, in a network namespace), rpm (lists the .rpm package's
# files) and systemd-analyze (verifies the units).
ensure_host_tools() {
	local missing=()
	command -v iptables >/dev/null 2>&1 || missing+=(iptables)
	command -v ip >/dev/null 2>&1 || missing+=(iproute2)
	command -v rpm >/dev/null 2>&1 || missing+=(rpm)
	command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
	if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# ensure_moto makes sure moto_server (AWS's services, played locally: STS and
# IAM for the task-role tests) is installed.
ensure_moto() {
	command -v moto_server >/dev/null 2>&1 && return
	log "installing moto_server (pip install 'moto[server]')"
	pip install -q 'moto[server]' >/dev/null 2>&1 || true
	command -v moto_server >/dev/null 2>&1 || die "moto_server is required (task role tests play STS with it): install it with pip install 'moto[server]'"
}

command -v go >/dev/null 2>&1 || die "Go is required (https://go.dev/dl/)"
ensure_docker
ensure_test_image
ensure_registry
ensure_go_tool ec2-metadata-mock "github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@$AEMM_VERSION"
ensure_go_tool staticcheck "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
ensure_aws_cli
ensure_moto
ensure_host_tools
log "ready: Docker engine, $TEST_IMAGE, ec2-metadata-mock, staticcheck, aws CLI, moto_server, iptables, rpm, registry $REGISTRY_ADDR"
