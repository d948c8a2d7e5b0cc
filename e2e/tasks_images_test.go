package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// imageTaskDef is a one-container task definition that runs image until stopped.
func imageTaskDef(family, image string) map[string]any {
	c := containerDef("main", true, sleeper)
	c["image"] = image
	return taskDef(family, c)
}

// TestE2EPullRegistryAuth pulls from the local registry with basic auth
// configured by ECS_ENGINE_AUTH_TYPE=docker: the task runs.
func TestE2EPullRegistryAuth(t *testing.T) {
	t.Parallel()
	password := requireRegistry(t)
	ref := pushToRegistry(t, password)
	tc := startTaskCluster(t, engineAuthEnv(t, password)...)
	def := tc.register(t, imageTaskDef(uniqueName(t), ref))

	arn := tc.runOne(t, def)
	task := tc.awaitStatus(t, arn, "RUNNING")
	st, ok := inspectContainer(t, task.container(t, "main").RuntimeID)
	require.True(t, ok)
	assert.True(t, st.State.Running)
	assert.NoError(t, exec.Command("docker", "image", "inspect", ref).Run(), "the agent pulled %s", ref)
	assert.GreaterOrEqual(t, manifestRequests(t, registryRepo(ref)), 2, "the push and the agent's pull fetched the manifest")
	assert.NotContains(t, tc.agent.proc.out.String(), password, "the agent's log holds the registry password")
}

// TestE2EPullRegistryWrongAuth pulls with a wrong password: the task stops
// with a reason about authentication, and the agent still runs other tasks.
func TestE2EPullRegistryWrongAuth(t *testing.T) {
	t.Parallel()
	password := requireRegistry(t)
	ref := pushToRegistry(t, password)
	tc := startTaskCluster(t, engineAuthEnv(t, "not-"+password)...)
	def := tc.register(t, imageTaskDef(uniqueName(t), ref))

	arn := tc.runOne(t, def)
	task := tc.awaitStatus(t, arn, "STOPPED")
	reasons := strings.ToLower(task.StoppedReason + " " + task.container(t, "main").Reason)
	assert.True(t, strings.Contains(reasons, "auth") || strings.Contains(reasons, "credential"),
		"the reasons say why: %s", task)
	t.Logf("task stopped: %s", task)
	assert.Empty(t, containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn), "no container was created without the image")

	// The agent stays up and runs the next task.
	ok := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t)+"-local", testImage)))
	tc.awaitStatus(t, ok, "RUNNING")
	tc.stopTask(t, ok, "e2e: done")
	tc.awaitStatus(t, ok, "STOPPED")
}

// TestE2EPullPreferCached runs an image that only exists locally, named after
// a registry that does not exist: prefer-cached uses it without pulling.
func TestE2EPullPreferCached(t *testing.T) {
	t.Parallel()
	ref := cachedOnlyImage(t)
	tc := startTaskCluster(t, "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached")
	arn := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t), ref)))
	task := tc.awaitStatus(t, arn, "RUNNING")
	log := tc.agent.proc.out.String()
	assert.NotEmpty(t, agentLogLines(log, "using cached image", ref), "the agent used the cached %s", ref)
	assert.Empty(t, agentLogLines(log, "image pull started", ref), "the agent pulled %s", ref)
	st, ok := inspectContainer(t, task.container(t, "main").RuntimeID)
	require.True(t, ok)
	assert.True(t, st.State.Running)
	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}

// TestE2EPullOnce pulls an image from the registry for the first task only:
// with ECS_IMAGE_PULL_BEHAVIOR=once the second task uses the pulled image.
func TestE2EPullOnce(t *testing.T) {
	t.Parallel()
	password := requireRegistry(t)
	ref := pushToRegistry(t, password)
	repo := registryRepo(ref)
	tc := startTaskCluster(t, append(engineAuthEnv(t, password), "ECS_IMAGE_PULL_BEHAVIOR=once")...)
	def := tc.register(t, imageTaskDef(uniqueName(t), ref))

	afterPush := manifestRequests(t, repo)
	first := tc.runOne(t, def)
	tc.awaitStatus(t, first, "RUNNING")
	afterFirst := manifestRequests(t, repo)
	require.Greater(t, afterFirst, afterPush, "the first task pulled %s", ref)

	second := tc.runOne(t, def)
	tc.awaitStatus(t, second, "RUNNING")
	assert.Equal(t, afterFirst, manifestRequests(t, repo), "the second task pulled %s again", ref)

	// The agent remembers the pull across a restart (agent.db).
	tc.agent.stop(t, syscall.SIGKILL)
	tc.startAgent(t)
	third := tc.runOne(t, def)
	tc.awaitStatus(t, third, "RUNNING")
	assert.Equal(t, afterFirst, manifestRequests(t, repo), "the restarted agent pulled %s again", ref)

	for _, arn := range []string{first, second, third} {
		tc.stopTask(t, arn, "e2e: done")
	}
	for _, arn := range []string{first, second, third} {
		tc.awaitStatus(t, arn, "STOPPED")
	}
}

// cachedOnlyImage tags the test image with the name of a registry that does
// not exist, so that any pull of it fails; the cleanup removes the tag.
func cachedOnlyImage(t *testing.T) string {
	t.Helper()
	requireTools(t, "docker")
	requireImage(t, testImage)
	ref := fmt.Sprintf("registry.invalid:5999/ecs-test/%s:cached", uniqueName(t))
	require.NoError(t, dockerCmd("tag", testImage, ref))
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", ref).Run() })
	return ref
}

// TestE2EPullDefaultFallsBackToCache: with the default behaviour a failed
// pull uses the cached image.
func TestE2EPullDefaultFallsBackToCache(t *testing.T) {
	t.Parallel()
	ref := cachedOnlyImage(t)
	tc := startTaskCluster(t)
	arn := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t), ref)))
	tc.awaitStatus(t, arn, "RUNNING")
	// RUNNING alone does not say which path was taken: the agent tried the
	// pull, saw it fail, and then used the cached image.
	log := tc.agent.proc.out.String()
	assert.NotEmpty(t, agentLogLines(log, "image pull started", ref), "the agent tried to pull %s", ref)
	assert.NotEmpty(t, agentLogLines(log, "image pull failed", ref), "the pull of %s failed", ref)
	assert.NotEmpty(t, agentLogLines(log, "image pull failed; using the cached image", ref), "the agent fell back to the cached %s", ref)
	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}

// agentLogLines returns the agent's log records with message msg about
// image ref.
func agentLogLines(log, msg, ref string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && logField(line, "image") == ref {
			out = append(out, line)
		}
	}
	return out
}

// TestE2EPullAlwaysFails: with ECS_IMAGE_PULL_BEHAVIOR=always a failed pull
// stops the task even though the image is cached.
func TestE2EPullAlwaysFails(t *testing.T) {
	t.Parallel()
	ref := cachedOnlyImage(t)
	tc := startTaskCluster(t, "ECS_IMAGE_PULL_BEHAVIOR=always")
	arn := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t), ref)))
	task := tc.awaitStatus(t, arn, "STOPPED")
	assert.Contains(t, task.StoppedReason+task.container(t, "main").Reason, "CannotPullContainerError", "task: %s", task)
}

// TestE2EImageNotFound runs a task whose image exists nowhere: the task
// stops with a reason, and the agent stays up and runs the next task.
func TestE2EImageNotFound(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	missing := fmt.Sprintf("ecs-agent-test/no-such-image-%s:latest", uniqueName(t))
	arn := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t), missing)))
	task := tc.awaitStatus(t, arn, "STOPPED")
	assert.NotEmpty(t, task.StoppedReason+task.container(t, "main").Reason, "the task says why it stopped: %s", task)
	t.Logf("task stopped: %s", task)

	ok := tc.runOne(t, tc.register(t, imageTaskDef(uniqueName(t)+"-ok", testImage)))
	tc.awaitStatus(t, ok, "RUNNING")
	require.False(t, tc.agent.proc.exited(), "the agent exited: %v", tc.agent.proc.err)
	tc.stopTask(t, ok, "e2e: done")
	tc.awaitStatus(t, ok, "STOPPED")
}
