package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2ETaskCannotBePlaced asks for more memory than the instance has:
// run-task answers with a RESOURCE:MEMORY failure and no task.
func TestE2ETaskCannotBePlaced(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	huge := containerDef("huge", true, sleeper)
	huge["memory"] = 64 * 1024 * 1024 // 64 TiB in MiB
	tasks, failures := tc.runTask(t, tc.register(t, taskDef(uniqueName(t), huge)), 1)
	assert.Empty(t, tasks)
	require.Len(t, failures, 1)
	assert.Equal(t, "RESOURCE:MEMORY", failures[0].Reason)
	assert.Contains(t, failures[0].Arn, ":container-instance/", "the failure names the instance that lacked memory")
}

// TestE2ECleanupAfterWait stops a task and checks its containers are removed
// once ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION has passed, and not before:
// Docker's destroy event comes at least the wait after the backend recorded
// the task STOPPED (the agent starts waiting only once that report is
// acknowledged).
func TestE2ECleanupAfterWait(t *testing.T) {
	t.Parallel()
	const wait = 5 * time.Second
	tc := startTaskCluster(t, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION="+wait.String())
	began := time.Now()
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), containerDef("brief", true, `exit 0`))))
	task := tc.awaitStatus(t, arn, "STOPPED")
	id := task.container(t, "brief").RuntimeID
	require.NotEmpty(t, id, "the stopped container's runtimeId")
	assert.Equal(t, "0", exitCode(task.container(t, "brief")))
	out, err := tc.api.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(tc.name), Tasks: []string{arn}})
	require.NoError(t, err)
	require.Len(t, out.Tasks, 1)
	stoppedAt := aws.ToTime(out.Tasks[0].StoppedAt)
	require.False(t, stoppedAt.IsZero(), "a STOPPED task has stoppedAt")

	waitFor(t, 60*time.Second, "the stopped task's containers to be removed", func() bool {
		return len(containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn)) == 0
	})
	destroyed := dockerEventTimes(t, id, "destroy", began)
	require.Len(t, destroyed, 1, "Docker reported the container's removal once")
	// The API's timestamps have millisecond precision.
	assert.GreaterOrEqual(t, destroyed[0].Sub(stoppedAt), wait-time.Millisecond,
		"the container was removed %s after the task was recorded STOPPED, before the %s cleanup wait", destroyed[0].Sub(stoppedAt), wait)
	t.Logf("container removed %s after stoppedAt (wait %s)", destroyed[0].Sub(stoppedAt).Round(10*time.Millisecond), wait)
	waitFor(t, 10*time.Second, "the introspection API to forget the task", func() bool {
		return tc.agent.introspect(t, "/v1/tasks?taskarn="+arn, nil) == http.StatusNotFound
	})
}

// dockerEventTimes returns when Docker reported event (a container event
// action such as "destroy" or "health_status") for container id, from since
// until now, oldest first.
func dockerEventTimes(t testing.TB, id, event string, since time.Time) []time.Time {
	t.Helper()
	if since.IsZero() {
		since = time.Now().Add(-time.Hour)
	}
	unix := func(at time.Time) string { return fmt.Sprintf("%d.%09d", at.Unix(), at.Nanosecond()) }
	out, err := exec.Command("docker", "events", "--since", unix(since.Add(-time.Second)), "--until", unix(time.Now()),
		"--filter", "container="+id, "--filter", "event="+event, "--format", "{{.TimeNano}}").Output()
	require.NoError(t, err, "docker events")
	var times []time.Time
	for _, f := range strings.Fields(string(out)) {
		ns, err := strconv.ParseInt(f, 10, 64)
		require.NoError(t, err, "docker events time %q", f)
		times = append(times, time.Unix(0, ns))
	}
	return times
}

// TestE2EAgentRestartMidTask kills the agent under a running task: the
// container keeps running, the restarted agent adopts it (same Docker ID, no
// duplicate), and stop-task still works.
func TestE2EAgentRestartMidTask(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper))))
	running := tc.awaitStatus(t, arn, "RUNNING")
	id := running.container(t, "main").RuntimeID
	require.NotEmpty(t, id)

	tc.agent.stop(t, syscall.SIGKILL)
	st, ok := inspectContainer(t, id)
	require.True(t, ok)
	require.True(t, st.State.Running, "the container keeps running while the agent is down")

	tc.startAgent(t)
	var byID introspectionTask
	waitFor(t, 30*time.Second, "the restarted agent to show the task", func() bool {
		return tc.agent.introspect(t, "/v1/tasks?taskarn="+arn, &byID) == http.StatusOK && byID.KnownStatus == "RUNNING"
	})
	require.Len(t, byID.Containers, 1)
	assert.Equal(t, id, byID.Containers[0].DockerID, "the restarted agent adopted the same container")
	assert.Equal(t, []string{id}, containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn), "no duplicate container")
	assert.Equal(t, "RUNNING", tc.describe(t, arn)[0].LastStatus)

	tc.stopTask(t, arn, "e2e: after restart")
	task := tc.awaitTask(t, arn, "the adopted task to be STOPPED", taskStopTimeout, func(task ecsTask) bool {
		return task.LastStatus == "STOPPED" && task.container(t, "main").ExitCode != nil
	})
	assert.Equal(t, "e2e: after restart", task.StoppedReason)
	assert.Equal(t, "0", exitCode(task.container(t, "main")))
	st, ok = inspectContainer(t, id)
	require.True(t, ok)
	assert.False(t, st.State.Running)
}

// TestE2EAgentRestartWhileStopped kills the agent, lets the task's only
// container exit while the agent is down, and restarts it: the agent reports
// what changed while it was away.
func TestE2EAgentRestartWhileStopped(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper))))
	id := tc.awaitStatus(t, arn, "RUNNING").container(t, "main").RuntimeID
	require.NotEmpty(t, id)

	tc.agent.stop(t, syscall.SIGKILL)
	require.NoError(t, dockerCmd("stop", "-t", "5", id), "stopping the container behind the agent's back")

	tc.startAgent(t)
	task := tc.awaitStatus(t, arn, "STOPPED")
	assert.Equal(t, "0", exitCode(task.container(t, "main")))
	assert.Equal(t, []string{id}, containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn), "no new container")
}

// TestE2ETwoAgentsShareDocker runs two agents (separate data directories and
// control planes) on one Docker host: restarting one and stopping its task
// leaves the other's container alone.
func TestE2ETwoAgentsShareDocker(t *testing.T) {
	t.Parallel()
	a := startTaskCluster(t)
	b := startTaskCluster(t)
	arnA := a.runOne(t, a.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper))))
	arnB := b.runOne(t, b.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper))))
	idA := a.awaitStatus(t, arnA, "RUNNING").container(t, "main").RuntimeID
	idB := b.awaitStatus(t, arnB, "RUNNING").container(t, "main").RuntimeID
	require.NotEqual(t, idA, idB)

	a.agent.stop(t, syscall.SIGKILL)
	a.startAgent(t)
	waitFor(t, 30*time.Second, "the restarted agent to show its task", func() bool {
		return a.agent.introspect(t, "/v1/tasks?taskarn="+arnA, nil) == http.StatusOK
	})
	assert.Equal(t, http.StatusNotFound, a.agent.introspect(t, "/v1/tasks?dockerid="+idB, nil), "agent A claims B's container")
	a.stopTask(t, arnA, "e2e: done")
	a.awaitStatus(t, arnA, "STOPPED")

	st, ok := inspectContainer(t, idB)
	require.True(t, ok)
	assert.True(t, st.State.Running, "B's container still runs")
	assert.Equal(t, "RUNNING", b.describe(t, arnB)[0].LastStatus)
}
