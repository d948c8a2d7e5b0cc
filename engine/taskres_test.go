package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/cgroup"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// fakeCgroups records task cgroup calls in order. The harness passes one
// unless a test sets h.cg = nil.
type fakeCgroups struct {
	mu        sync.Mutex
	log       []string
	limits    map[string]cgroup.Limits
	failOnce  error
	removeErr error
}

func (f *fakeCgroups) Create(taskID string, l cgroup.Limits) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failOnce; err != nil {
		f.failOnce = nil
		return "", err
	}
	if f.limits == nil {
		f.limits = map[string]cgroup.Limits{}
	}
	f.limits[taskID] = l
	f.log = append(f.log, "create "+taskID)
	return "/ecs/" + taskID, nil
}

func (f *fakeCgroups) Remove(taskID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removeErr != nil {
		return f.removeErr
	}
	delete(f.limits, taskID)
	f.log = append(f.log, "remove "+taskID)
	return nil
}

func (f *fakeCgroups) note(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

func (f *fakeCgroups) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// cgroupTask is a one-container task with task-level limits.
func cgroupTask(id string) *wire.Task {
	t := newTask(id, "main")
	t.CPU, t.Memory = 0.5, 64
	return t
}

// A task with task-level cpu and memory gets its cgroup, with those limits,
// before its first container is created; the containers run in it; the
// cgroup is removed after the containers at cleanup.
func TestTaskCgroupAroundContainers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.TaskCleanupWaitDuration = time.Second
		h.rt.onCreate = func(_ context.Context, spec rt.CreateSpec) (string, bool, error) {
			h.cg.note("create container")
			return "", false, nil
		}
		h.start()
		task := cgroupTask("limited")
		h.add(task)
		synctest.Wait()
		require.Equal(t, StatusRunning, h.snap(task.ARN).KnownStatus)
		assert.Equal(t, []string{"create limited", "create container"}, h.cg.calls(), "the cgroup comes first")
		assert.Equal(t, cgroup.Limits{CPUShares: 512, MemoryMiB: 64}, h.cg.limits["limited"])
		var host struct{ CgroupParent string }
		require.NoError(t, json.Unmarshal(h.rt.spec("main").HostConfig, &host))
		assert.Equal(t, "/ecs/limited", host.CgroupParent)

		h.add(stopOf(task))
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusStopped, r.Status)
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		time.Sleep(h.cfg.TaskCleanupWaitDuration)
		synctest.Wait()
		assert.Empty(t, h.rt.Containers())
		assert.Equal(t, []string{"create limited", "create container", "remove limited"}, h.cg.calls())
	})
}

// A task without task-level limits gets no cgroup and no CgroupParent.
func TestNoTaskCgroupWithoutTaskLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("plain", "main")
		h.add(task)
		synctest.Wait()
		require.Equal(t, StatusRunning, h.snap(task.ARN).KnownStatus)
		assert.Empty(t, h.cg.calls())
		var host map[string]any
		require.NoError(t, json.Unmarshal(h.rt.spec("main").HostConfig, &host))
		assert.NotContains(t, host, "CgroupParent")
	})
}

// Without task cgroups, task-level limits are refused with the reason, not
// run without them.
func TestTaskLimitsRefusedWithoutCgroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cg = nil
		h.start()
		task := cgroupTask("nocg")
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Equal(t, "InvalidTaskError: the task has task-level cpu or memory, which this instance cannot enforce "+
			"(no task cgroups in this test); remove them or run the task where ECS_ENABLE_TASK_CPU_MEM_LIMIT works", r.Reason)
		assert.Zero(t, h.rt.Calls("CreateContainer"))
	})
}

// A cgroup that cannot be created stops the task before any container.
func TestTaskCgroupFailureStopsTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cg.failOnce = errors.New("write memory.limit_in_bytes: read-only file system")
		h.start()
		task := cgroupTask("cgfail")
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Equal(t, "ResourceInitializationError: task cgroup: write memory.limit_in_bytes: read-only file system", r.Reason)
		assert.Zero(t, h.rt.Calls("CreateContainer"))
	})
}

func roleTask(id, network string) *wire.Task {
	t := newTask(id, "main")
	t.NetworkMode = network
	t.RoleCredentials = &wire.IAMRoleCredentials{CredentialsID: "cred-" + id, RoleARN: "arn:aws:iam::1:role/app",
		AccessKeyID: "AKIDROLE", SecretAccessKey: "role-secret-never-stored", SessionToken: "role-token-never-stored",
		Expiration: "2030-01-01T00:00:00Z"}
	t.ExecutionRoleCredentials = &wire.IAMRoleCredentials{CredentialsID: "exec-" + id, RoleARN: "arn:aws:iam::1:role/exec",
		AccessKeyID: "AKIDEXEC", SecretAccessKey: "exec-secret-never-stored", SessionToken: "exec-token-never-stored"}
	return t
}

// A task role's containers get the relative URI of their own credentials
// and the metadata URIs; the IDs are kept, the secrets never reach agent.db.
func TestTaskRoleEnvironmentAndNoSecretsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.TaskIAMRoleEnabled = true
		h.start()
		task := roleTask("role", "bridge")
		h.add(task)
		synctest.Wait()
		s := h.snap(task.ARN)
		require.Equal(t, StatusRunning, s.KnownStatus)
		assert.Equal(t, "cred-role", s.CredentialsID)
		assert.Equal(t, "exec-role", s.ExecutionCredentialsID)
		assert.Equal(t, "arn:aws:iam::1:role/app", s.RoleARN)
		id := s.container("main").EndpointID
		var cfg struct{ Env []string }
		require.NoError(t, json.Unmarshal(h.rt.spec("main").Config, &cfg))
		assert.Contains(t, cfg.Env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-role")
		assert.Contains(t, cfg.Env, "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/"+id)
		assert.Contains(t, cfg.Env, "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/"+id)
		for _, kv := range cfg.Env {
			assert.NotContains(t, kv, "exec-role", "containers never learn the execution role's credentials")
		}

		dump := dumpStore(t, h.store)
		assert.Contains(t, dump, "cred-role", "the credentials ID is stored, so a restart knows it")
		for _, secret := range []string{"role-secret-never-stored", "role-token-never-stored", "exec-secret-never-stored",
			"exec-token-never-stored", "AKIDROLE", "AKIDEXEC"} {
			assert.NotContains(t, dump, secret)
		}
	})
}

// The endpoint IDs are baked into the containers' environment, so they
// survive an agent restart.
func TestEndpointIDSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("ids", "main", "side")
		h.add(task)
		synctest.Wait()
		before := h.snap(task.ARN)
		require.NotEmpty(t, before.container("main").EndpointID)
		assert.NotEqual(t, before.container("main").EndpointID, before.container("side").EndpointID)
		h.restart()
		synctest.Wait()
		after := h.snap(task.ARN)
		assert.Equal(t, before.container("main").EndpointID, after.container("main").EndpointID)
		assert.Equal(t, before.container("side").EndpointID, after.container("side").EndpointID)
	})
}

func TestTaskRoleRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		bridge, host bool
		network      string
		edit         func(*wire.Task)
		want         string
	}{
		"roles off": {network: "bridge",
			want: "InvalidTaskError: the task has a task IAM role, which this instance does not serve; set ECS_ENABLE_TASK_IAM_ROLE=true"},
		"host mode off": {bridge: true, network: "host",
			want: "InvalidTaskError: the task has a task IAM role in network mode host, which this instance does not serve; set ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true"},
		"no credentials ID": {bridge: true, network: "bridge", edit: func(t *wire.Task) { t.RoleCredentials.CredentialsID = "" },
			want: `InvalidTaskError: roleCredentials for "arn:aws:iam::1:role/app" has no credentialsId: the backend sent the task role without its credentials`},
		"no execution credentials ID": {bridge: true, network: "bridge", edit: func(t *wire.Task) { t.ExecutionRoleCredentials.CredentialsID = "" },
			want: `InvalidTaskError: executionRoleCredentials for "arn:aws:iam::1:role/exec" has no credentialsId: the backend sent the execution role without its credentials`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Default()
			cfg.TaskIAMRoleEnabled, cfg.TaskIAMRoleEnabledForNetworkHost = tc.bridge, tc.host
			wt := roleTask("r", tc.network)
			if tc.edit != nil {
				tc.edit(wt)
			}
			_, reason := fromWire(wt, cfg)
			assert.Equal(t, tc.want, reason)
			assert.NotContains(t, reason, "never-stored")
		})
	}
	cfg := config.Default()
	cfg.TaskIAMRoleEnabled, cfg.TaskIAMRoleEnabledForNetworkHost = true, true
	_, reason := fromWire(roleTask("ok", "host"), cfg)
	assert.Empty(t, reason, "host mode with both settings on")
}

// Host-mode containers reach a moved endpoint at its address; bridge-mode
// ones only ever through 169.254.170.2.
func TestTaskEndpointFollowsTheSetting(t *testing.T) {
	cfg := config.Default()
	assert.Equal(t, "http://169.254.170.2", taskEndpoint("host", cfg))
	cfg.TaskMetadataAddr = "127.0.0.1:40123"
	assert.Equal(t, "http://127.0.0.1:40123", taskEndpoint("host", cfg))
	assert.Equal(t, "http://169.254.170.2", taskEndpoint("bridge", cfg))
	cfg.TaskMetadataAddr = ":40124"
	assert.Equal(t, "http://127.0.0.1:40124", taskEndpoint("host", cfg))
	cfg.TaskMetadataAddr = "[::]:40125"
	assert.Equal(t, "http://127.0.0.1:40125", taskEndpoint("host", cfg))
}

// The container metadata file says NOT_READY from the create on and READY
// with the Docker ID once the container runs; it is mounted where
// ECS_CONTAINER_METADATA_FILE says, and removed with the task.
func TestContainerMetadataFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		dir := t.TempDir()
		h.metadata = &MetadataFiles{Dir: dir, HostDir: "/host/data/metadata", Cluster: "c1", ContainerInstanceARN: "ci-arn"}
		h.cfg.TaskCleanupWaitDuration = time.Second
		var notReady metadataFile
		h.rt.onCreate = func(_ context.Context, spec rt.CreateSpec) (string, bool, error) {
			matches, _ := filepath.Glob(filepath.Join(dir, "meta", "*", metadataFileName))
			if len(matches) == 1 {
				raw, _ := os.ReadFile(matches[0])
				_ = json.Unmarshal(raw, &notReady)
			}
			return "", false, nil
		}
		h.start()
		task := newTask("meta", "main")
		h.add(task)
		synctest.Wait()
		s := h.snap(task.ARN)
		require.Equal(t, StatusRunning, s.KnownStatus)
		c := s.container("main")
		assert.Equal(t, metadataNotReady, notReady.MetadataFileStatus, "written before the create")
		assert.Empty(t, notReady.ContainerID)

		var cfg struct{ Env []string }
		var host struct{ Binds []string }
		require.NoError(t, json.Unmarshal(h.rt.spec("main").Config, &cfg))
		require.NoError(t, json.Unmarshal(h.rt.spec("main").HostConfig, &host))
		inside := "/opt/ecs/metadata/" + c.EndpointID
		assert.Contains(t, cfg.Env, "ECS_CONTAINER_METADATA_FILE="+inside+"/ecs-container-metadata.json")
		assert.Contains(t, host.Binds, "/host/data/metadata/meta/"+c.EndpointID+":"+inside+":ro")

		raw, err := os.ReadFile(filepath.Join(dir, "meta", c.EndpointID, metadataFileName))
		require.NoError(t, err)
		var ready metadataFile
		require.NoError(t, json.Unmarshal(raw, &ready))
		assert.Equal(t, metadataReady, ready.MetadataFileStatus)
		assert.Equal(t, c.DockerID, ready.ContainerID)
		assert.Equal(t, "/"+c.DockerName, ready.DockerContainerName)
		assert.Equal(t, "c1", ready.Cluster)
		assert.Equal(t, task.ARN, ready.TaskARN)
		assert.Equal(t, "main", ready.ContainerName)

		h.add(stopOf(task))
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		time.Sleep(h.cfg.TaskCleanupWaitDuration)
		synctest.Wait()
		assert.NoDirExists(t, filepath.Join(dir, "meta"))
	})
}

// dumpStore is every record of the task buckets, as text.
func dumpStore(t *testing.T, s statemanager.Store) string {
	t.Helper()
	var b strings.Builder
	for _, bucket := range []string{statemanager.BucketTasks, statemanager.BucketContainers, statemanager.BucketMetadata} {
		require.NoError(t, s.ForEach(bucket, func(key string, raw []byte) error {
			b.WriteString(key + "=" + string(raw) + "\n")
			return nil
		}))
	}
	return b.String()
}
