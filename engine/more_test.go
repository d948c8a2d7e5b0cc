package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

func healthy(test string) *wire.DockerConfig {
	return &wire.DockerConfig{Config: `{"Healthcheck":{"Test":["CMD-SHELL","` + test + `"]}}`}
}

func TestDependsOnHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("healthy", "app", "proxy")
		task.Containers[1].HealthCheckType = wire.HealthCheckTypeDocker
		task.Containers[1].DockerConfig = healthy("wait-for-me")
		task.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "proxy", Condition: wire.ContainerConditionHealthy}}
		h.add(task)
		synctest.Wait()
		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.container("proxy").KnownStatus)
		assert.Empty(t, s.container("app").DockerID, "waits for proxy to be healthy")

		require.NoError(t, h.rt.SetHealth(s.container("proxy").DockerID, "healthy"))
		synctest.Wait()
		s = h.snap(task.ARN)
		assert.Equal(t, healthHealthy, s.container("proxy").Health)
		assert.Equal(t, StatusRunning, s.container("app").KnownStatus)
		assert.Equal(t, StatusRunning, s.KnownStatus)
	})
}

func TestDependencyStartTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("timeout", "app", "proxy")
		task.Containers[1].HealthCheckType = wire.HealthCheckTypeDocker
		task.Containers[1].DockerConfig = healthy("never")
		task.Containers[1].StartTimeout = 30
		task.Containers[0].DependsOn = []wire.ContainerDependency{{ContainerName: "proxy", Condition: wire.ContainerConditionHealthy}}
		h.add(task)
		synctest.Wait()
		time.Sleep(29 * time.Second)
		synctest.Wait()
		assert.Equal(t, StatusPending, h.snap(task.ARN).KnownStatus)
		time.Sleep(time.Second)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.container("app").Reason, "startTimeout of 30s passed")
	})
}

func TestMaxConcurrentStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.MaxConcurrentStarts = 1
		h.start()
		for _, img := range []string{"reg.test/a:1", "reg.test/b:1", "reg.test/c:1"} {
			h.rt.SetRegistryImage(img, nil)
		}
		release := h.rt.BlockPulls()
		for _, id := range []string{"a", "b", "c"} {
			task := newTask(id, "main")
			task.Containers[0].Image = "reg.test/" + id + ":1"
			h.add(task)
		}
		synctest.Wait()
		assert.Equal(t, 1, h.rt.PullsWaiting(), "ECS_MAX_CONCURRENT_STARTS=1 lets one pull run")
		release()
		synctest.Wait()
		for _, id := range []string{"a", "b", "c"} {
			assert.Equal(t, StatusRunning, h.snap(arn(id)).KnownStatus)
		}
	})
}

func TestStopWhilePulling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		h.rt.SetRegistryImage("reg.test/slow:1", nil)
		release := h.rt.BlockPulls()
		task := newTask("early", "main")
		task.Containers[0].Image = "reg.test/slow:1"
		h.add(task)
		synctest.Wait()
		h.add(stopOf(task))
		synctest.Wait()
		release()
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Empty(t, r.container("main").RuntimeID)
		assert.Zero(t, h.rt.Calls("CreateContainer"))
	})
}

func TestAddTaskIsIdempotentAndIgnoresUnknownStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("twice", "main")
		h.add(task)
		h.add(task)
		synctest.Wait()
		assert.Equal(t, 1, h.rt.Calls("CreateContainer"))
		h.add(stopOf(newTask("unknown", "main")))
		synctest.Wait()
		assert.Len(t, h.e.Snapshot(), 1)
		assert.Error(t, h.e.AddTask(context.Background(), &wire.Task{}))
	})
}

// Two agents with their own agent.db share one Docker host: neither
// touches the other's containers, across restarts too.
func TestTwoAgentsShareDocker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newHarness(t)
		b := newHarness(t)
		b.rt = a.rt
		b.images.rt = a.rt
		a.start()
		b.start()
		ta, tb := newTask("ta", "main"), newTask("tb", "main")
		a.add(ta)
		b.add(tb)
		synctest.Wait()
		idB := b.snap(tb.ARN).container("main").DockerID

		a.add(stopOf(ta))
		synctest.Wait()
		a.restart()
		synctest.Wait()
		assert.Len(t, a.e.Snapshot(), 1, "agent a knows only its own task")
		assert.Equal(t, StatusRunning, b.snap(tb.ARN).KnownStatus)
		info, err := a.rt.InspectContainer(context.Background(), idB)
		require.NoError(t, err)
		assert.Equal(t, "running", info.State)
		var rec containerRecord
		require.Error(t, a.store.Get(statemanager.BucketContainers, "tb-main", &rec))
	})
}

func TestCreateTimeoutThatReachedDockerIsAdopted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		first := true
		h.rt.onCreate = func(ctx context.Context, spec rt.CreateSpec) (string, bool, error) {
			if !first {
				return "", false, nil
			}
			first = false
			_, err := h.rt.Fake.CreateContainer(ctx, spec)
			require.NoError(t, err)
			return "", true, context.DeadlineExceeded
		}
		h.start()
		task := newTask("late", "main")
		h.add(task)
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.snap(task.ARN).KnownStatus)
		assert.Len(t, h.rt.Containers(), 1)
	})
}

func TestCallsAfterCleanupAndShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.TaskCleanupWaitDuration = time.Second
		h.start()
		task := newTask("gone", "main")
		task.Containers[0].Image = h.program(exits(0))
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusStopped, r.Status)
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Empty(t, h.e.Snapshot())
		assert.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version), "a cleaned-up task is no error")
		assert.Empty(t, h.rt.Containers())

		e := h.e
		h.stop()
		assert.ErrorIs(t, e.AddTask(context.Background(), newTask("late", "main")), ErrNotRunning)
	})
}

func TestStopWhileQueuedForResources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.res = HostResources{MemoryMiB: 1000}
		h.start()
		a, b, c := newTask("qa", "main"), newTask("qb", "main"), newTask("qc", "main")
		a.Memory, b.Memory, c.Memory = 600, 600, 300
		h.add(a)
		h.add(b)
		h.add(c)
		synctest.Wait()
		require.Equal(t, StatusPending, h.snap(c.ARN).KnownStatus)
		h.add(stopOf(b))
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.mustReport(b.ARN).Status)
		assert.Equal(t, StatusRunning, h.snap(c.ARN).KnownStatus, "c moves up once b leaves the queue")
		assert.Equal(t, 2, h.rt.Calls("CreateContainer"))
	})
}

func TestStaticPortWaitsForTheHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		a, b := newTask("pa", "main"), newTask("pb", "main")
		for _, tk := range []*wire.Task{a, b} {
			tk.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80, HostPort: 8080}}
			h.add(tk)
		}
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.snap(a.ARN).KnownStatus)
		assert.Equal(t, StatusPending, h.snap(b.ARN).KnownStatus, "host port 8080 is taken")
		h.add(stopOf(a))
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.snap(b.ARN).KnownStatus)
	})
}

func TestCreateErrorOfEssentialStopsTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		h.rt.SetError("CreateContainer", errors.New("no space left on device"))
		task := newTask("createerr", "main", "side")
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "CannotCreateContainerError: no space left on device")
		assert.Empty(t, h.rt.Containers())
	})
}

func TestStopFailureIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("stopretry", "main")
		h.add(task)
		synctest.Wait()
		h.rt.FailNext("StopContainer", errors.New("daemon busy"))
		h.add(stopOf(task))
		synctest.Wait()
		assert.Equal(t, StatusRunning, h.mustReport(task.ARN).Status)
		time.Sleep(retryDelay)
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.mustReport(task.ARN).Status)
		assert.Equal(t, 2, h.rt.Calls("StopContainer"))
	})
}

func TestContainerRemovedUnderneathStopsTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("removed", "main", "side")
		h.add(task)
		synctest.Wait()
		require.NoError(t, h.rt.RemoveContainer(context.Background(), h.snap(task.ARN).container("main").DockerID))
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "ContainerVanishedError")
		assert.Equal(t, StatusStopped, r.container("side").Status)
	})
}
