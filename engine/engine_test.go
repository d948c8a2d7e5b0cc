package engine

import (
	"encoding/json"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/statemanager"
)

func TestHappyPathWithLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("happy", "web", "db")
		task.Containers[0].Links = []string{"db:database"}
		task.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}, {ContainerPort: 53, HostPort: 5353, Protocol: "udp"}}
		task.Containers[0].Environment = map[string]string{"A": "1"}
		task.Containers[0].DockerConfig = &wire.DockerConfig{
			Config:     `{"Labels":{"mine":"x","com.amazonaws.ecs.cluster":"spoofed"},"User":"nobody"}`,
			HostConfig: `{"Memory":8388608,"Ulimits":[{"Name":"nofile","Soft":10,"Hard":10}]}`,
		}
		h.add(task)
		synctest.Wait()

		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.KnownStatus)
		web, db := s.container("web"), s.container("db")
		assert.Equal(t, StatusRunning, web.KnownStatus)
		assert.Equal(t, StatusRunning, db.KnownStatus)
		assert.Regexp(t, regexp.MustCompile(`^ecs-fam-3-web-[0-9a-f]{20}$`), web.DockerName)
		assert.False(t, web.StartedAt.Before(db.StartedAt), "web links to db, so db starts first")

		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusRunning, r.Status)
		assert.Equal(t, web.DockerID, r.container("web").RuntimeID)
		require.Len(t, r.container("web").NetworkBindings, 2)
		assert.Equal(t, 40000, r.container("web").NetworkBindings[0].HostPort)
		assert.Equal(t, 5353, r.container("web").NetworkBindings[1].HostPort)
		assert.NotNil(t, r.PullStartedAt)
		assert.NotNil(t, r.PullStoppedAt)

		var cfg struct {
			Image  string
			Env    []string
			Labels map[string]string
			User   string
		}
		var host struct {
			Links        []string
			Memory       int64
			CpuShares    int
			NetworkMode  string
			Ulimits      []any
			PortBindings map[string][]struct{ HostPort string }
		}
		spec := h.rt.spec("web")
		require.NoError(t, json.Unmarshal(spec.Config, &cfg))
		require.NoError(t, json.Unmarshal(spec.HostConfig, &host))
		assert.Equal(t, web.DockerName, spec.Name)
		assert.Equal(t, []string{db.DockerName + ":database"}, host.Links)
		assert.Equal(t, testCluster, cfg.Labels[LabelCluster], "ECS labels are applied last")
		assert.Equal(t, "x", cfg.Labels["mine"])
		assert.Equal(t, task.ARN, cfg.Labels[LabelTaskARN])
		assert.Equal(t, "web", cfg.Labels[LabelContainerName])
		assert.Equal(t, "fam", cfg.Labels[LabelTaskDefFamily])
		assert.Equal(t, "3", cfg.Labels[LabelTaskDefVersion])
		assert.Equal(t, "nobody", cfg.User)
		require.NotEmpty(t, web.EndpointID)
		assert.Equal(t, []string{"A=1", "AWS_DEFAULT_REGION=us-west-2", "AWS_EXECUTION_ENV=AWS_ECS_EC2", "AWS_REGION=us-west-2",
			"ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/" + web.EndpointID,
			"ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/" + web.EndpointID}, cfg.Env)
		assert.Equal(t, int64(8<<20), host.Memory, "hostConfig overlays the base")
		assert.Equal(t, 2, host.CpuShares)
		assert.Equal(t, "bridge", host.NetworkMode)
		assert.Len(t, host.Ulimits, 1)
		assert.Equal(t, "40000", host.PortBindings["80/tcp"][0].HostPort)
		assert.Equal(t, "5353", host.PortBindings["53/udp"][0].HostPort)

		// Persisted: the task and each container with its Docker name and ID.
		var rec containerRecord
		require.NoError(t, h.store.Get(statemanager.BucketContainers, "happy-web", &rec))
		assert.Equal(t, web.DockerName, rec.DockerName)
		assert.Equal(t, web.DockerID, rec.DockerID)
		var stored struct {
			KnownStatus   status
			ReportVersion uint64
		}
		require.NoError(t, h.store.Get(statemanager.BucketTasks, "happy", &stored))
		assert.Equal(t, statusRunning, stored.KnownStatus)
		assert.Equal(t, r.Version, stored.ReportVersion)
	})
}

func TestDependsOnSuccessChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("chain", "app", "init", "migrate")
		task.Containers[1].Image = h.program(exits(0))
		task.Containers[2].Image = h.program(exits(0))
		task.Containers[2].DependsOn = []wire.ContainerDependency{{ContainerName: "init", Condition: wire.ContainerConditionSuccess}}
		task.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "migrate", Condition: wire.ContainerConditionSuccess}}
		h.add(task)
		synctest.Wait()

		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.KnownStatus)
		assert.Equal(t, StatusStopped, s.container("init").KnownStatus)
		assert.Equal(t, StatusStopped, s.container("migrate").KnownStatus)
		assert.Equal(t, 0, *s.container("migrate").ExitCode)
		assert.Equal(t, StatusRunning, s.container("app").KnownStatus)
		assert.False(t, s.container("app").CreatedAt.Before(s.container("migrate").StartedAt))
	})
}

func TestDependsOnSuccessFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("fails", "app", "init")
		task.Containers[1].Image = h.program(exits(3))
		task.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "init", Condition: wire.ContainerConditionSuccess}}
		h.add(task)
		synctest.Wait()

		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		app := r.container("app")
		assert.Equal(t, StatusStopped, app.Status)
		assert.Empty(t, app.RuntimeID, "app is never created")
		assert.Contains(t, app.Reason, "DependencyError")
		assert.Contains(t, app.Reason, "exited with code 3")
		assert.Equal(t, 3, *r.container("init").ExitCode)
		assert.NotNil(t, r.ExecutionStoppedAt)
	})
}

func TestEssentialExitStopsTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("ess", "main", "side")
		h.add(task)
		synctest.Wait()
		require.NoError(t, h.rt.Exit(h.snap(task.ARN).container("main").DockerID, 2))
		synctest.Wait()

		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Equal(t, 2, *r.container("main").ExitCode)
		assert.Equal(t, 143, *r.container("side").ExitCode, "the other container is stopped")
		assert.NotNil(t, r.ExecutionStoppedAt)
		assert.Equal(t, StatusStopped, h.snap(task.ARN).DesiredStatus)
		assert.Equal(t, 1, h.rt.Calls("StopContainer"))
	})
}

func TestNonEssentialExitKeepsTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("noness", "main", "side")
		h.add(task)
		synctest.Wait()
		require.NoError(t, h.rt.Exit(h.snap(task.ARN).container("side").DockerID, 1))
		synctest.Wait()

		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.KnownStatus)
		assert.Equal(t, StatusRunning, s.DesiredStatus)
		assert.Equal(t, StatusStopped, s.container("side").KnownStatus)
		assert.Equal(t, StatusRunning, s.container("main").KnownStatus)
		assert.Equal(t, 1, *h.mustReport(task.ARN).container("side").ExitCode)
	})
}

func TestRestartPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("restart", "main")
		task.Containers[0].RestartPolicy = &wire.RestartPolicy{Enabled: true, IgnoredExitCodes: []int{0}, RestartAttemptPeriod: 60}
		h.add(task)
		synctest.Wait()
		id := h.snap(task.ARN).container("main").DockerID

		time.Sleep(61 * time.Second) // fake time: past restartAttemptPeriod
		require.NoError(t, h.rt.Exit(id, 1))
		synctest.Wait()
		c := h.snap(task.ARN).container("main")
		assert.Equal(t, StatusRunning, c.KnownStatus, "restarted in place")
		assert.Equal(t, id, c.DockerID, "the same container")
		assert.Equal(t, 1, c.RestartCount)
		assert.Equal(t, 2, h.rt.Calls("StartContainer"))
		assert.Equal(t, StatusRunning, h.snap(task.ARN).KnownStatus)

		// Within the attempt period of the last restart: no restart.
		time.Sleep(10 * time.Second)
		require.NoError(t, h.rt.Exit(id, 1))
		synctest.Wait()
		s := h.snap(task.ARN)
		assert.Equal(t, StatusStopped, s.KnownStatus)
		assert.Equal(t, 1, s.container("main").RestartCount)
	})
}

func TestRestartPolicyIgnoredExitCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("ignored", "main")
		task.Containers[0].RestartPolicy = &wire.RestartPolicy{Enabled: true, IgnoredExitCodes: []int{0}, RestartAttemptPeriod: 60}
		h.add(task)
		synctest.Wait()
		time.Sleep(61 * time.Second)
		require.NoError(t, h.rt.Exit(h.snap(task.ARN).container("main").DockerID, 0))
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.snap(task.ARN).KnownStatus)
	})
}

func TestStopWithTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("stopto", "main")
		task.Containers[0].Image = h.program(ignoresTerm)
		task.Containers[0].StopTimeout = 7
		h.add(task)
		synctest.Wait()

		h.add(stopOf(task))
		time.Sleep(6 * time.Second)
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.mustReport(task.ARN).Status, "still within the 7s stop timeout")
		time.Sleep(time.Second)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		require.NotNil(t, r.container("main").ExitCode, "%+v", r)
		assert.Equal(t, 137, *r.container("main").ExitCode, "killed after the stop timeout")

		// Desired status is monotonic: RUNNING again changes nothing.
		h.add(task)
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.snap(task.ARN).DesiredStatus)
	})
}

func TestStopOrderDependentsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("order", "app", "proxy")
		task.Containers[0].Links = []string{"proxy"}
		task.Containers[0].Image = h.program(ignoresTerm)
		task.Containers[0].StopTimeout = 5
		h.add(task)
		synctest.Wait()
		h.add(stopOf(task))
		time.Sleep(time.Second)
		synctest.Wait()
		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.container("app").KnownStatus, "app still in its stop timeout")
		assert.Equal(t, StatusRunning, s.container("proxy").KnownStatus, "proxy waits for app")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.snap(task.ARN).KnownStatus)
	})
}

func TestHostResourcesFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.res = HostResources{CPU: 2048, MemoryMiB: 1000}
		h.start()
		a, b, c := newTask("a", "main"), newTask("b", "main"), newTask("c", "main")
		a.Memory, b.Memory, c.Memory = 600, 600, 100
		h.add(a)
		h.add(b)
		h.add(c)
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.snap(a.ARN).KnownStatus)
		assert.Equal(t, StatusPending, h.snap(b.ARN).KnownStatus)
		assert.Equal(t, StatusPending, h.snap(c.ARN).KnownStatus, "c fits but must not overtake b")
		assert.Empty(t, h.snap(b.ARN).container("main").DockerID)

		h.add(stopOf(a))
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.snap(b.ARN).KnownStatus)
		assert.Equal(t, StatusRunning, h.snap(c.ARN).KnownStatus)

		big := newTask("big", "main")
		big.Memory = 2000
		h.add(big)
		synctest.Wait()
		r := h.mustReport(big.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "ResourceInitializationError")
	})
}

func TestInvalidTasks(t *testing.T) {
	cases := map[string]struct {
		mutate func(*wire.Task)
		reason string
	}{
		"cycle": {func(t *wire.Task) {
			t.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "b", Condition: "START"}}
			t.Containers[1].Links = []string{"a:x"}
		}, "TaskDependencyError: dependency cycle: a -> b -> a"},
		"unknown dependency": {func(t *wire.Task) {
			t.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "nope", Condition: "START"}}
		}, "TaskDependencyError: container \"a\" depends on \"nope\""},
		"volumesFrom cycle": {func(t *wire.Task) {
			t.Containers[0].VolumesFrom = []wire.VolumeFrom{{SourceContainer: "b"}}
			t.Containers[1].VolumesFrom = []wire.VolumeFrom{{SourceContainer: "a"}}
		}, "TaskDependencyError: dependency cycle"},
		"awsvpc": {func(t *wire.Task) { t.NetworkMode = "awsvpc" }, "UnsupportedNetworkMode: network mode \"awsvpc\""},
		"bad port range": {func(t *wire.Task) {
			t.Containers[0].PortMappings = []wire.PortMapping{{ContainerPortRange: "90-80"}}
		}, "InvalidTaskError: container \"a\": containerPortRange"},
		"privileged": {func(t *wire.Task) {
			t.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"Privileged":true}`}
		}, "ECS_DISABLE_PRIVILEGED"},
		"log driver": {func(t *wire.Task) {
			t.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"LogConfig":{"Type":"splunk"}}`}
		}, "log driver \"splunk\""},
		"health check": {func(t *wire.Task) { t.Containers[0].HealthCheckType = "docker" }, "no Healthcheck"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.cfg.PrivilegedDisabled = true
				h.start()
				task := newTask("bad", "a", "b")
				tc.mutate(task)
				h.add(task)
				synctest.Wait()
				r := h.mustReport(task.ARN)
				assert.Equal(t, StatusStopped, r.Status)
				assert.Contains(t, r.Reason, tc.reason)
				assert.Zero(t, h.rt.Calls("CreateContainer"))
			})
		})
	}
}

func TestPullFailureStopsOnlyThatTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		bad := newTask("badimg", "main")
		bad.Containers[0].Image = "registry.invalid/missing:1"
		good := newTask("good", "main")
		h.add(bad)
		h.add(good)
		synctest.Wait()
		r := h.mustReport(bad.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "CannotPullContainerError")
		assert.Contains(t, r.container("main").Reason, "registry.invalid/missing:1")
		assert.Equal(t, StatusRunning, h.snap(good.ARN).KnownStatus)
	})
}

func TestCreateAndStartErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		h.rt.FailNext("StartContainer", assert.AnError)
		task := newTask("starterr", "main")
		task.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}}
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "CannotStartContainerError")
		assert.Empty(t, r.container("main").NetworkBindings, "a container that never started binds no port")
		assert.Empty(t, h.snap(task.ARN).container("main").Ports)
	})
}
