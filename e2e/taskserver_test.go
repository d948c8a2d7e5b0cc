package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cgroupV1Memory is where the agent creates the task cgroups on this
// host's cgroup v1 tree (Docker's cgroupfs driver).
const cgroupV1Memory = "/sys/fs/cgroup/memory"

// requireTaskCgroups skips (or fails under CI) unless the agent can create
// task cgroups here: cgroup v1 with Docker's cgroupfs driver, as root.
func requireTaskCgroups(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}").Output()
	msg := ""
	switch {
	case err != nil:
		msg = fmt.Sprintf("docker info: %v", err)
	case strings.TrimSpace(string(out)) != "cgroupfs 1":
		msg = fmt.Sprintf("Docker's cgroups are %q; this test reads cgroup v1 files, so it needs the cgroupfs driver on cgroup v1", strings.TrimSpace(string(out)))
	case os.Geteuid() != 0:
		msg = "the agent needs root to create task cgroups"
	}
	if msg == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// logLine waits until the container's output has a line starting with
// prefix for which ok holds, and returns the rest of that line.
func logLine(t *testing.T, id, prefix string, timeout time.Duration, ok func(rest string) bool) string {
	t.Helper()
	var found string
	waitFor(t, timeout, fmt.Sprintf("a %q line in the output of container %.12s", prefix, id), func() bool {
		out, _ := exec.Command("docker", "logs", id).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if rest, match := strings.CutPrefix(line, prefix); match && ok(rest) {
				found = rest
			}
		}
		return found != ""
	})
	return found
}

// metadataTask is the part of the v4 task response the test reads.
type metadataTask struct {
	TaskARN    string `json:"TaskARN"`
	Family     string `json:"Family"`
	Revision   string `json:"Revision"`
	Cluster    string `json:"Cluster"`
	LaunchType string `json:"LaunchType"`
	Limits     struct {
		CPU    float64 `json:"CPU"`
		Memory int     `json:"Memory"`
	} `json:"Limits"`
	Containers []struct {
		DockerID string `json:"DockerId"`
		Name     string `json:"Name"`
		Limits   struct {
			CPU    float64 `json:"CPU"`
			Memory int     `json:"Memory"`
		} `json:"Limits"`
		KnownStatus string `json:"KnownStatus"`
	} `json:"Containers"`
}

// reader prints, every second, what a container can read about itself: its
// task from $ECS_CONTAINER_METADATA_URI_V4/task, its own Docker stats (or
// why there are none), and its container metadata file.
const reader = `trap 'exit 0' TERM
while true; do
  if t=$(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task"); then echo "TASK $t"; fi
  echo "STATS $(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/stats" 2>&1 | tr '\n' ' ')"
  if [ -n "$ECS_CONTAINER_METADATA_FILE" ]; then echo "FILE $(tr -d '\n' < "$ECS_CONTAINER_METADATA_FILE")"; fi
  sleep 1 & wait $!
done`

// TestE2ETaskMetadataFromInside: a two-container host-mode task with
// task-level cpu and memory. From inside a container,
// $ECS_CONTAINER_METADATA_URI_V4/task lists both containers with their
// Docker IDs and limits, and the container metadata file turns READY. The
// task runs in its own cgroup with the task's memory limit, which is
// removed with the task.
func TestE2ETaskMetadataFromInside(t *testing.T) {
	t.Parallel()
	requireTaskCgroups(t)
	cgroups := removeTaskCgroupsAtEnd(t)
	tc := startTaskCluster(t, "ECS_ENABLE_CONTAINER_METADATA=true", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s")
	rd := containerDef("reader", true, reader)
	side := containerDef("side", false, sleeper)
	def := taskDef(uniqueName(t), rd, side)
	def["networkMode"] = "host" // reaches the agent's own address on the host's loopback
	def["cpu"], def["memory"] = "256", "128"
	arn := tc.runOne(t, tc.register(t, def))
	*cgroups = append(*cgroups, arn)
	task := tc.awaitTask(t, arn, "both containers RUNNING", taskStartTimeout, func(task ecsTask) bool {
		return task.LastStatus == "RUNNING" && task.container(t, "side").LastStatus == "RUNNING"
	})
	readerID, sideID := task.container(t, "reader").RuntimeID, task.container(t, "side").RuntimeID

	var md metadataTask
	logLine(t, readerID, "TASK ", 30*time.Second, func(rest string) bool {
		md = metadataTask{}
		if json.Unmarshal([]byte(rest), &md) != nil || len(md.Containers) != 2 {
			return false
		}
		for _, c := range md.Containers {
			if c.DockerID == "" {
				return false
			}
		}
		return true
	})
	assert.Equal(t, arn, md.TaskARN)
	assert.Equal(t, tc.name, md.Cluster)
	assert.Equal(t, "1", md.Revision)
	assert.Equal(t, "EC2", md.LaunchType)
	assert.Equal(t, 0.25, md.Limits.CPU, "256 CPU units")
	assert.Equal(t, 128, md.Limits.Memory)
	ids := map[string]string{}
	for _, c := range md.Containers {
		ids[c.Name] = c.DockerID
		assert.Equal(t, 16.0, c.Limits.CPU, c.Name)
		assert.Equal(t, 32, c.Limits.Memory, c.Name)
	}
	assert.Equal(t, map[string]string{"reader": readerID, "side": sideID}, ids)

	file := logLine(t, readerID, "FILE ", 30*time.Second, func(rest string) bool { return strings.Contains(rest, `"READY"`) })
	var mf struct {
		ContainerID, ContainerName, TaskARN, MetadataFileStatus string
	}
	require.NoError(t, json.Unmarshal([]byte(file), &mf), file)
	assert.Equal(t, readerID, mf.ContainerID)
	assert.Equal(t, "reader", mf.ContainerName)
	assert.Equal(t, arn, mf.TaskARN)

	// The task's cgroup holds the task's memory limit; its containers are
	// inside it.
	taskID := arn[strings.LastIndex(arn, "/")+1:]
	limit, err := os.ReadFile(filepath.Join(cgroupV1Memory, "ecs", taskID, "memory.limit_in_bytes"))
	require.NoError(t, err, "the task cgroup")
	assert.Equal(t, "134217728", strings.TrimSpace(string(limit)), "128 MiB")
	parent, err := exec.Command("docker", "inspect", "--format", "{{.HostConfig.CgroupParent}}", readerID).Output()
	require.NoError(t, err)
	assert.Equal(t, "/ecs/"+taskID, strings.TrimSpace(string(parent)))

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
	awaitCgroupGone(t, arn)
}

// TestE2ETaskStatsFromInside: from inside a container,
// $ECS_CONTAINER_METADATA_URI_V4/stats returns its Docker stats, as the
// agent's stats collector last sampled them.
func TestE2ETaskStatsFromInside(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	def := taskDef(uniqueName(t), containerDef("reader", true, reader))
	def["networkMode"] = "host"
	arn := tc.runOne(t, tc.register(t, def))
	id := tc.awaitStatus(t, arn, "RUNNING").container(t, "reader").RuntimeID
	stats := logLine(t, id, "STATS ", 30*time.Second, func(rest string) bool {
		var s struct {
			Read        string         `json:"read"`
			MemoryStats map[string]any `json:"memory_stats"`
		}
		return json.Unmarshal([]byte(rest), &s) == nil && s.Read != "" && s.MemoryStats["usage"] != nil
	})
	assert.Contains(t, stats, `"cpu_stats"`, "Docker's stats shape")
}

// TestE2ETaskMemoryLimitOOM: a task with task-level memory of 64 MiB whose
// container (without a limit of its own) allocates more is killed by the
// kernel, and the container's stop reason says it ran out of memory.
func TestE2ETaskMemoryLimitOOM(t *testing.T) {
	t.Parallel()
	requireTaskCgroups(t)
	cgroups := removeTaskCgroupsAtEnd(t)
	tc := startTaskCluster(t, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s")
	hog := containerDef("hog", true, `sleep 1; exec dd if=/dev/zero of=/dev/null bs=100M count=1`)
	delete(hog, "memory") // only the task's limit applies
	def := taskDef(uniqueName(t), hog)
	def["memory"] = "64"
	arn := tc.runOne(t, tc.register(t, def))
	*cgroups = append(*cgroups, arn)
	task := tc.awaitStatus(t, arn, "STOPPED")
	c := task.container(t, "hog")
	assert.Equal(t, "OutOfMemoryError: Container killed due to memory usage", c.Reason, "%s", task)
	assert.Equal(t, "137", exitCode(c), "SIGKILL")
	awaitCgroupGone(t, arn)
}

// removeTaskCgroupsAtEnd removes, when the test ends, the cgroups of the
// tasks whose ARNs the test appends, in case the agent had no time to. It
// must be called before startTaskCluster, so that it runs after the
// cluster's containers are removed (a cgroup with processes cannot be).
func removeTaskCgroupsAtEnd(t *testing.T) *[]string {
	var arns []string
	t.Cleanup(func() {
		roots, _ := filepath.Glob("/sys/fs/cgroup/*/ecs")
		for _, arn := range arns {
			for _, root := range roots {
				removeCgroupTree(t, filepath.Join(root, taskIDOf(arn)))
			}
		}
	})
	return &arns
}

// removeCgroupTree removes a cgroup and the ones inside it, deepest first;
// cgroup directories go with rmdir alone.
func removeCgroupTree(t *testing.T, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // gone already
	}
	for _, e := range entries {
		if e.IsDir() {
			removeCgroupTree(t, filepath.Join(dir, e.Name()))
		}
	}
	if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
		t.Errorf("removing cgroup %s: %v", dir, err)
	}
}

// awaitCgroupGone waits until the agent has removed the task's cgroup,
// which it does when it cleans the task up.
func awaitCgroupGone(t *testing.T, arn string) {
	t.Helper()
	dir := filepath.Join(cgroupV1Memory, "ecs", arn[strings.LastIndex(arn, "/")+1:])
	waitFor(t, 60*time.Second, "the task cgroup to be removed with the task", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
}

// TestE2EWhoamiExample runs the README's task that reads its own metadata
// and role credentials (scripts/examples/whoami.json) the way make run
// sets things up: role credentials from a roles file (-roles), and the
// task endpoint off port 51679, so that a host-mode task reaches it
// without ecs-init's rules.
func TestE2EWhoamiExample(t *testing.T) {
	t.Parallel()
	requireTaskCgroups(t)
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	roles := filepath.Join(t.TempDir(), "roles.json")
	writeFile(t, roles, `{"arn:aws:iam::000000000000:role/whoami": {"accessKeyId": "AKIAWHOAMIEXAMPLE", "secretAccessKey": "whoami-secret"}}`)
	cgroups := removeTaskCgroupsAtEnd(t)
	cp := startControlPlaneWith(t, nil, func(cp *controlPlane) { cp.args = []string{"-roles", roles} })
	tc := &taskCluster{cp: cp, name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(tc.cp)
	tc.cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })
	tc.agent = newAgent(t, tc.cp, tc.name, "ECS_ENABLE_TASK_IAM_ROLE=true", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true",
		"ECS_AUDIT_LOGFILE="+filepath.Join(t.TempDir(), "audit.log"))
	tc.startAgent(t)

	var out struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "register-task-definition",
		"--cli-input-json", "file://../scripts/examples/whoami.json")
	arn := tc.runOne(t, out.TaskDefinition.TaskDefinitionArn)
	*cgroups = append(*cgroups, arn)
	id := tc.awaitStatus(t, arn, "RUNNING").container(t, "whoami").RuntimeID

	task := logLine(t, id, "my task: ", 30*time.Second, func(rest string) bool { return strings.Contains(rest, arn) })
	var md metadataTask
	require.NoError(t, json.Unmarshal([]byte(task), &md), task)
	assert.Equal(t, 0.25, md.Limits.CPU)
	assert.Equal(t, 64, md.Limits.Memory)
	creds := logLine(t, id, "my credentials: ", 30*time.Second, func(string) bool { return true })
	var c roleCredentials
	require.NoError(t, json.Unmarshal([]byte(creds), &c), creds)
	assert.Equal(t, "AKIAWHOAMIEXAMPLE", c.AccessKeyId)
	assert.Equal(t, "whoami-secret", c.SecretAccessKey)
	assert.Equal(t, "arn:aws:iam::000000000000:role/whoami", c.RoleArn)
	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}
