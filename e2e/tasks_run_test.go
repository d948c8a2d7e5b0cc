package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2ETwoContainerTask runs the README's two-container task as a user
// would: "web" serves HTTP on a dynamic host port, "client" reaches it through
// a link alias, the host reaches the published port, the introspection API
// shows the task, and stop-task stops it with exit codes and the reason.
func TestE2ETwoContainerTask(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	web := containerDef("web", true, `mkdir -p /www && echo "hello from web" > /www/index.html && exec httpd -f -p 8080 -h /www`)
	web["portMappings"] = []map[string]any{{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}}
	web["stopTimeout"] = 2 // httpd as PID 1 ignores SIGTERM: SIGKILL after 2 s
	client := containerDef("client", true,
		`trap 'exit 0' TERM; while true; do wget -q -O - http://site:8080/ && echo fetched-ok; sleep 1 & wait $!; done`)
	client["links"] = []string{"web:site"}
	family := uniqueName(t)
	def := tc.register(t, taskDef(family, web, client))

	arn := tc.runOne(t, def)
	task := tc.awaitTask(t, arn, "the task and its host port binding", taskStartTimeout, func(task ecsTask) bool {
		return task.LastStatus == "RUNNING" && len(task.container(t, "web").NetworkBindings) > 0
	})
	w := task.container(t, "web")
	require.Equal(t, "RUNNING", w.LastStatus)
	require.NotEmpty(t, w.RuntimeID, "web's runtimeId")
	binding := w.NetworkBindings[0]
	assert.Equal(t, 8080, binding.ContainerPort)
	assert.Equal(t, "tcp", binding.Protocol)
	require.NotZero(t, binding.HostPort, "a dynamic host port for hostPort 0")

	// The host reaches the published port.
	var body string
	waitFor(t, 20*time.Second, "http://127.0.0.1:<hostPort>/ to answer", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", binding.HostPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	assert.Contains(t, body, "hello from web")

	// The client reaches web through the link alias.
	c := task.container(t, "client")
	require.NotEmpty(t, c.RuntimeID, "client's runtimeId")
	waitFor(t, 20*time.Second, "the client to fetch http://site:8080/", func() bool {
		out, _ := exec.Command("docker", "logs", c.RuntimeID).CombinedOutput()
		return strings.Contains(string(out), "hello from web")
	})

	// The containers carry the ECS labels.
	st, ok := inspectContainer(t, w.RuntimeID)
	require.True(t, ok, "docker inspect web")
	assert.Equal(t, arn, st.Config.Labels["com.amazonaws.ecs.task-arn"])
	assert.Equal(t, "web", st.Config.Labels["com.amazonaws.ecs.container-name"])
	assert.Equal(t, family, st.Config.Labels["com.amazonaws.ecs.task-definition-family"])
	assert.Equal(t, tc.name, st.Config.Labels["com.amazonaws.ecs.cluster"])
	assert.True(t, strings.HasPrefix(strings.TrimPrefix(st.Name, "/"), "ecs-"+family+"-1-web-"), "container name %s, want ecs-<family>-<version>-web-<hex>", st.Name)

	// The introspection API shows the task, listed and by ARN and Docker ID.
	var list struct {
		Tasks []introspectionTask `json:"Tasks"`
	}
	require.Equal(t, http.StatusOK, tc.agent.introspect(t, "/v1/tasks", &list))
	var listed *introspectionTask
	for i := range list.Tasks {
		if list.Tasks[i].Arn == arn {
			listed = &list.Tasks[i]
		}
	}
	require.NotNil(t, listed, "/v1/tasks lists %s: %+v", arn, list.Tasks)
	assert.Equal(t, "RUNNING", listed.KnownStatus)
	assert.Equal(t, family, listed.Family)
	assert.Len(t, listed.Containers, 2)
	var byID introspectionTask
	require.Equal(t, http.StatusOK, tc.agent.introspect(t, "/v1/tasks?dockerid="+w.RuntimeID, &byID))
	assert.Equal(t, arn, byID.Arn)
	var byShortID introspectionTask
	require.Equal(t, http.StatusOK, tc.agent.introspect(t, "/v1/tasks?dockerid="+w.RuntimeID[:12], &byShortID), "a short Docker ID")
	assert.Equal(t, arn, byShortID.Arn)
	assert.Equal(t, http.StatusBadRequest, tc.agent.introspect(t, "/v1/tasks?dockerid="+w.RuntimeID+"&taskarn="+arn, nil), "both parameters")
	var byARN introspectionTask
	require.Equal(t, http.StatusOK, tc.agent.introspect(t, "/v1/tasks?taskarn="+arn, &byARN))
	assert.Equal(t, arn, byARN.Arn)
	assert.Equal(t, http.StatusNotFound, tc.agent.introspect(t, "/v1/tasks?taskarn="+arn+"-nope", nil))

	// stop-task: STOPPED with exit codes and the user's reason.
	tc.stopTask(t, arn, "e2e: done")
	stopped := tc.awaitTask(t, arn, "the task and its containers to be STOPPED", taskStopTimeout, func(task ecsTask) bool {
		if task.LastStatus != "STOPPED" {
			return false
		}
		for _, c := range task.Containers {
			if c.LastStatus != "STOPPED" || c.ExitCode == nil {
				return false
			}
		}
		return true
	})
	assert.Equal(t, "e2e: done", stopped.StoppedReason)
	assert.Equal(t, "STOPPED", stopped.DesiredStatus)
	assert.Equal(t, "0", exitCode(stopped.container(t, "client")), "client traps SIGTERM and exits 0")
	assert.Equal(t, "137", exitCode(stopped.container(t, "web")), "httpd as PID 1 ignores SIGTERM and is killed")
}

// TestE2EDependsOnSuccess runs an init container that must succeed before the
// app starts: the app starts after init exited 0.
func TestE2EDependsOnSuccess(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	initC := containerDef("init", false, `echo initialised; exit 0`)
	app := containerDef("app", true, sleeper)
	app["dependsOn"] = []map[string]any{{"containerName": "init", "condition": "SUCCESS"}}
	def := tc.register(t, taskDef(uniqueName(t), initC, app))

	arn := tc.runOne(t, def)
	task := tc.awaitTask(t, arn, "app RUNNING after init STOPPED", taskStartTimeout, func(task ecsTask) bool {
		return task.LastStatus == "RUNNING" && task.container(t, "app").LastStatus == "RUNNING" &&
			task.container(t, "init").LastStatus == "STOPPED"
	})
	in, a := task.container(t, "init"), task.container(t, "app")
	assert.Equal(t, "0", exitCode(in))
	initState, ok := inspectContainer(t, in.RuntimeID)
	require.True(t, ok, "docker inspect init %q", in.RuntimeID)
	appState, ok := inspectContainer(t, a.RuntimeID)
	require.True(t, ok, "docker inspect app %q", a.RuntimeID)
	assert.False(t, appState.State.StartedAt.Before(initState.State.FinishedAt),
		"app started at %s, before init finished at %s", appState.State.StartedAt, initState.State.FinishedAt)

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}

// TestE2EDependsOnSuccessFails runs an init container that exits 1: the app
// never starts and the task stops with a reason.
func TestE2EDependsOnSuccessFails(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	initC := containerDef("init", false, `echo failing; exit 1`)
	app := containerDef("app", true, `touch /started; `+sleeper)
	app["dependsOn"] = []map[string]any{{"containerName": "init", "condition": "SUCCESS"}}
	def := tc.register(t, taskDef(uniqueName(t), initC, app))

	arn := tc.runOne(t, def)
	task := tc.awaitStatus(t, arn, "STOPPED")
	assert.NotEmpty(t, task.StoppedReason, "a STOPPED task says why")
	assert.Equal(t, "1", exitCode(task.container(t, "init")))
	a := task.container(t, "app")
	assert.Equal(t, "STOPPED", a.LastStatus)
	// Docker reports a never-started container's StartedAt as year 1.
	for _, id := range containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn) {
		st, _ := inspectContainer(t, id)
		if st.Config.Labels["com.amazonaws.ecs.container-name"] == "app" {
			assert.True(t, st.State.StartedAt.Year() < 2000, "app container %s was started at %s", id, st.State.StartedAt)
		}
	}
	t.Logf("stoppedReason %q, app reason %q", task.StoppedReason, a.Reason)
}

// TestE2EEssentialExitStopsTask: an essential container's exit stops the task.
func TestE2EEssentialExitStopsTask(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	main := containerDef("main", true, `sleep 1; exit 3`)
	side := containerDef("side", false, sleeper)
	def := tc.register(t, taskDef(uniqueName(t), main, side))

	arn := tc.runOne(t, def)
	task := tc.awaitTask(t, arn, "the task and both containers to be STOPPED", taskStartTimeout+taskStopTimeout, func(task ecsTask) bool {
		return task.LastStatus == "STOPPED" && task.container(t, "side").LastStatus == "STOPPED"
	})
	assert.Contains(t, task.StoppedReason, "Essential container in task exited")
	assert.Equal(t, "3", exitCode(task.container(t, "main")))
	assert.Equal(t, "0", exitCode(task.container(t, "side")), "side is stopped with SIGTERM, which it traps")
}

// TestE2ENonEssentialExitKeepsTask: a non-essential container's exit does not stop the task.
func TestE2ENonEssentialExitKeepsTask(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	main := containerDef("main", true, sleeper)
	worker := containerDef("worker", false, `sleep 1; exit 5`)
	def := tc.register(t, taskDef(uniqueName(t), main, worker))

	arn := tc.runOne(t, def)
	tc.awaitTask(t, arn, "worker's exit to be reported", taskStartTimeout, func(task ecsTask) bool {
		return task.container(t, "worker").LastStatus == "STOPPED"
	})
	// The task's state travels with the container's exit; main still runs.
	task := tc.describe(t, arn)[0]
	assert.Equal(t, "5", exitCode(task.container(t, "worker")))
	assert.Equal(t, "RUNNING", task.LastStatus, "task: %s", task)
	assert.Equal(t, "RUNNING", task.DesiredStatus)
	assert.Equal(t, "RUNNING", task.container(t, "main").LastStatus)
	st, ok := inspectContainer(t, task.container(t, "main").RuntimeID)
	require.True(t, ok)
	assert.True(t, st.State.Running, "main still runs in Docker")

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}

// TestE2EStopTimeout: a container that ignores SIGTERM is killed after its
// stopTimeout (exit 137).
func TestE2EStopTimeout(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	stubborn := containerDef("stubborn", true, `trap '' TERM; while true; do sleep 1; done`)
	stubborn["stopTimeout"] = 2
	def := tc.register(t, taskDef(uniqueName(t), stubborn))

	arn := tc.runOne(t, def)
	running := tc.awaitStatus(t, arn, "RUNNING")
	id := running.container(t, "stubborn").RuntimeID
	require.NotEmpty(t, id)

	began := time.Now()
	tc.stopTask(t, arn, "e2e: stop the stubborn one")
	task := tc.awaitTask(t, arn, "the container to be STOPPED with an exit code", taskStopTimeout, func(task ecsTask) bool {
		return task.LastStatus == "STOPPED" && task.container(t, "stubborn").ExitCode != nil
	})
	t.Logf("stop-task to STOPPED reported: %s (stopTimeout 2 s)", time.Since(began).Round(10*time.Millisecond))
	assert.Equal(t, "137", exitCode(task.container(t, "stubborn")))
	st, ok := inspectContainer(t, id)
	require.True(t, ok, "the container is removed only after the cleanup wait")
	assert.Equal(t, 137, st.State.ExitCode, "killed by SIGKILL")
	assert.False(t, st.State.OOMKilled)
	t.Logf("the container finished %s after stop-task", st.State.FinishedAt.Sub(began).Round(10*time.Millisecond))
}

// TestE2EHostPortTaken maps a static host port that another process on the
// host already listens on: the task stops with a reason and the agent stays up.
func TestE2EHostPortTaken(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	l, err := net.Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	port := l.Addr().(*net.TCPAddr).Port

	web := containerDef("web", true, `mkdir -p /www && exec httpd -f -p 8080 -h /www`)
	web["portMappings"] = []map[string]any{{"containerPort": 8080, "hostPort": port, "protocol": "tcp"}}
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), web)))
	task := tc.awaitStatus(t, arn, "STOPPED")
	t.Logf("task stopped: %s", task)
	// The reason is Docker's, through the agent: it must say the start
	// failed and name the port, or an operator cannot tell what to free.
	for what, reason := range map[string]string{"the task": task.StoppedReason, "the container": task.container(t, "web").Reason} {
		assert.Contains(t, reason, "CannotStartContainerError", "%s says the start failed", what)
		assert.Contains(t, reason, fmt.Sprintf(":%d", port), "%s names the taken port %d", what, port)
	}
	require.False(t, tc.agent.proc.exited(), "the agent exited: %v", tc.agent.proc.err)
}

// TestE2EDependsOnHealthy starts the app only once web's Docker health check
// passes.
func TestE2EDependsOnHealthy(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	web := containerDef("web", true, `mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www`)
	web["healthCheck"] = map[string]any{
		"command":  []string{"CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"},
		"interval": 5, "timeout": 2, "retries": 3,
	}
	web["stopTimeout"] = 2
	app := containerDef("app", true, sleeper)
	app["dependsOn"] = []map[string]any{{"containerName": "web", "condition": "HEALTHY"}}
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), web, app)))

	task := tc.awaitStatus(t, arn, "RUNNING")
	// ECS learns container health over TCS, not from state changes; the
	// control plane shows it only once it has a telemetry endpoint.
	t.Logf("describe-tasks healthStatus of web: %q", task.container(t, "web").HealthStatus)
	webState, ok := inspectContainer(t, task.container(t, "web").RuntimeID)
	require.True(t, ok)
	appState, ok := inspectContainer(t, task.container(t, "app").RuntimeID)
	require.True(t, ok)
	health, err := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", webState.ID).Output()
	require.NoError(t, err)
	assert.Equal(t, "healthy", strings.TrimSpace(string(health)))
	// The order, whatever Docker's check schedule: app started only after
	// Docker reported web healthy.
	healthy := dockerEventTimes(t, webState.ID, "health_status", webState.State.StartedAt)
	require.NotEmpty(t, healthy, "Docker reported no health status for web")
	assert.False(t, appState.State.StartedAt.Before(healthy[0]),
		"app started at %s, before web was reported healthy at %s", appState.State.StartedAt, healthy[0])

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}
