#!/usr/bin/env bash
# run.sh (make run) starts a local control plane and an agent on this Docker
# host, creates the default cluster and prints aws commands to try.
# Ctrl-C stops both. Everything they write lives under .run/ in the checkout:
# delete it to start from scratch.
#
# It first runs scripts/dev-setup.sh (Docker, the test image and tools, the
# tests' registry on 127.0.0.1:5000); Ctrl-C stops everything this script
# started, the registry included unless it was already running. Every log
# lands in $RUN_DIR: controlplane.log, agent.log, imds.log, registry.log.
#
# Knobs (environment):
#   RUN_DIR=.run          where state, logs and the dev credentials live
#   CP_ADDR=127.0.0.1:51677  control plane listen address
#   AGENT_ADDR=127.0.0.1:51678  the agent's introspection API
#   TASK_ADDR=127.0.0.1:51689   the agent's task metadata endpoint: off the
#                         usual 51679, so that host-mode tasks reach it
#                         without ecs-init's rules for 169.254.170.2
#   IMDS_ADDR=127.0.0.1:1338    the metadata mock's address
#   IMDS=mock|none        mock: serve instance identity from AWS's
#                         amazon-ec2-metadata-mock on IMDS_ADDR;
#                         none: no metadata service (like a private cloud)
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR="${RUN_DIR:-$PWD/.run}"
CP_ADDR="${CP_ADDR:-127.0.0.1:51677}"
AGENT_ADDR="${AGENT_ADDR:-127.0.0.1:51678}"
TASK_ADDR="${TASK_ADDR:-127.0.0.1:51689}"
IMDS="${IMDS:-mock}"
IMDS_ADDR="${IMDS_ADDR:-127.0.0.1:1338}"
REGISTRY_DIR="${ECS_TEST_REGISTRY_DIR:-/var/tmp/ecs-agent-test-registry}"
REGION="us-east-1"
ENDPOINT="http://$CP_ADDR"

mkdir -p "$RUN_DIR"
chmod 700 "$RUN_DIR"

# dev-setup starts the tests' registry when it is not running; stop it on
# exit only in that case.
registry_was_running=false
if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:5000/v2/ 2>/dev/null || true)" != 000 ]; then
	registry_was_running=true
fi
scripts/dev-setup.sh
ln -sf "$REGISTRY_DIR/registry.log" "$RUN_DIR/registry.log"

# Development credentials, generated once: an admin key for you and the aws
# CLI (the [default] profile), and an agent key (ecs_role = agent) that may
# only do what an ECS agent does, on the instances it registered.
CREDS="$RUN_DIR/credentials"
new_secret() { head -c 30 /dev/urandom | base64 | tr -d '/+=' | cut -c1-40; }
old_umask="$(umask)"
umask 077
if [ ! -f "$CREDS" ]; then
	printf '[default]\naws_access_key_id = AKIALOCALDEV%08d\naws_secret_access_key = %s\n' "$RANDOM" "$(new_secret)" >"$CREDS"
fi
if ! grep -q '^\[agent\]' "$CREDS"; then # a .run/ from before agent keys
	printf '\n[agent]\naws_access_key_id = AKIALOCALAGENT%06d\naws_secret_access_key = %s\necs_role = agent\n' \
		"$RANDOM" "$(new_secret)" >>"$CREDS"
fi
# Task role credentials for offline use: static keys per role ARN (-roles).
# Tasks with this role get them from the agent, as they would from STS.
ROLES="$RUN_DIR/roles.json"
if [ ! -f "$ROLES" ]; then
	printf '{"arn:aws:iam::000000000000:role/whoami": {"accessKeyId": "AKIALOCALROLE%07d", "secretAccessKey": "%s"}}\n' \
		"$RANDOM" "$(new_secret)" >"$ROLES"
fi
umask "$old_umask"
# profile_value <profile> <key> reads one value of the INI file.
profile_value() {
	awk -F' *= *' -v want="[$1]" -v key="$2" '/^\[/ {p = ($0 == want)} p && $1 == key {print $2}' "$CREDS"
}
AWS_ACCESS_KEY_ID="$(profile_value default aws_access_key_id)"
AWS_SECRET_ACCESS_KEY="$(profile_value default aws_secret_access_key)"
AGENT_ACCESS_KEY_ID="$(profile_value agent aws_access_key_id)"
AGENT_SECRET_ACCESS_KEY="$(profile_value agent aws_secret_access_key)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION="$REGION"
# The aws CLI must not look for other profiles or an instance role.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

pids=()
stop_all() {
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if ! $registry_was_running && [ -s "$REGISTRY_DIR/registry.pid" ]; then
		kill -TERM "$(cat "$REGISTRY_DIR/registry.pid")" 2>/dev/null || true
		echo "stopped the registry dev-setup started"
	fi
	echo "stopped. State is kept in $RUN_DIR."
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

wait_until() { # wait_until <seconds> <what> <command...>
	local deadline=$((SECONDS + $1)) what="$2"; shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then echo "run: $what did not come up; see $RUN_DIR/*.log" >&2; exit 1; fi
		sleep 0.2
	done
}

if [ "$IMDS" = "mock" ]; then
	aemm="$(command -v ec2-metadata-mock || echo "$(go env GOPATH)/bin/ec2-metadata-mock")"
	"$aemm" -n "${IMDS_ADDR%:*}" -p "${IMDS_ADDR##*:}" >"$RUN_DIR/imds.log" 2>&1 &
	pids+=($!)
	export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://$IMDS_ADDR"
	wait_until 10 "the metadata mock" curl -sf "http://$IMDS_ADDR/latest/meta-data/instance-id"
else
	export AWS_EC2_METADATA_DISABLED=true
fi

bin/ecs-controlplane -listen "$CP_ADDR" -data-dir "$RUN_DIR/controlplane" -region "$REGION" \
	-credentials "$CREDS" -roles "$ROLES" 2> >(trap '' INT; tee -a "$RUN_DIR/controlplane.log" | sed -u 's/^/[controlplane] /' >&2) &
pids+=($!)
wait_until 15 "the control plane" aws --endpoint-url "$ENDPOINT" ecs list-clusters
aws --endpoint-url "$ENDPOINT" ecs create-cluster --cluster-name default >/dev/null

# The agent reads the same KEY=VALUE file it would read from /etc/ecs/ecs.config.
cat >"$RUN_DIR/ecs.config" <<CONFIG
ECS_CLUSTER=default
ECS_BACKEND_HOST=$ENDPOINT
ECS_DATADIR=$RUN_DIR/agent-data
ECS_CHECKPOINT=true
AWS_DEFAULT_REGION=$REGION
ECS_LOGLEVEL=info
ECS_INTROSPECTION_ADDR=$AGENT_ADDR
ECS_TASK_METADATA_ADDR=$TASK_ADDR
ECS_ENABLE_TASK_IAM_ROLE=true
ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true
ECS_AUDIT_LOGFILE=$RUN_DIR/audit.log
CONFIG
AWS_ACCESS_KEY_ID="$AGENT_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AGENT_SECRET_ACCESS_KEY" \
	bin/ecs-agent -config "$RUN_DIR/ecs.config" 2> >(trap '' INT; tee -a "$RUN_DIR/agent.log" | sed -u 's/^/[agent] /' >&2) &
pids+=($!)
wait_until 30 "the agent's introspection API" curl -sf "http://$AGENT_ADDR/v1/metadata"

cat <<BANNER

==============================================================================
 Control plane: $ENDPOINT     Agent introspection: http://$AGENT_ADDR
 State and logs: $RUN_DIR

 In another terminal (the [default] profile is an admin key; the agent runs
 with the [agent] profile, which may only act as the agent of its instance):
   export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
   export AWS_SECRET_ACCESS_KEY=<see $CREDS>  # or: export AWS_SHARED_CREDENTIALS_FILE=$CREDS
   export AWS_DEFAULT_REGION=$REGION
   aws --endpoint-url $ENDPOINT ecs list-clusters
   aws --endpoint-url $ENDPOINT ecs list-container-instances
   aws --endpoint-url $ENDPOINT ecs describe-container-instances \\
       --container-instances \$(aws --endpoint-url $ENDPOINT ecs list-container-instances --query 'containerInstanceArns[0]' --output text)
   curl -s $AGENT_ADDR/v1/metadata

 Run a task (two containers: a web server on a dynamic host port, and a
 probe that reaches it through a link):
   aws --endpoint-url $ENDPOINT ecs register-task-definition \\
       --cli-input-json file://$PWD/scripts/examples/hello-web.json
   aws --endpoint-url $ENDPOINT ecs run-task --task-definition hello-web
   aws --endpoint-url $ENDPOINT ecs describe-tasks --tasks <taskArn> \\
       --query 'tasks[0].{status:lastStatus,ports:containers[].networkBindings[]}'
   curl -s localhost:<hostPort>/          # the web container answers
   curl -s $AGENT_ADDR/v1/tasks       # what the agent knows
   aws --endpoint-url $ENDPOINT ecs stop-task --task <taskArn> --reason done

 A task that reads its own metadata and role credentials (host mode,
 task-level cpu and memory, the role of $ROLES):
   aws --endpoint-url $ENDPOINT ecs register-task-definition \\
       --cli-input-json file://$PWD/scripts/examples/whoami.json
   aws --endpoint-url $ENDPOINT ecs run-task --task-definition whoami
   docker logs <the container's runtimeId from describe-tasks>

 Ctrl-C stops what this started (running containers keep running; the
 agent adopts them when it starts again). Logs: $RUN_DIR/*.log
==============================================================================
BANNER
wait -n "${pids[@]}" || true
echo "run: a process exited; stopping the rest" >&2
