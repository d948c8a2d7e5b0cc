package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

func TestRestartKeepsRunningContainers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("keep", "main", "side")
		h.add(task)
		synctest.Wait()
		before := h.snap(task.ARN)

		h.restart()
		synctest.Wait()
		after := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, after.KnownStatus)
		assert.Equal(t, before.container("main").DockerID, after.container("main").DockerID)
		assert.Zero(t, h.rt.Calls("StopContainer"), "an agent restart never stops containers")
		assert.Equal(t, 2, h.rt.Calls("CreateContainer"))
		assert.Len(t, h.rt.Containers(), 2)
	})
}

func TestRestartAdoptsContainerCreatedButNotRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		// The create reaches Docker, then the agent dies before it records
		// the ID: the create call never returns.
		h.rt.onCreate = func(ctx context.Context, spec rt.CreateSpec) (string, bool, error) {
			_, err := h.rt.Fake.CreateContainer(context.Background(), spec)
			require.NoError(t, err)
			<-ctx.Done()
			return "", true, ctx.Err()
		}
		h.start()
		task := newTask("adopt", "main")
		h.add(task)
		synctest.Wait()
		var rec containerRecord
		require.NoError(t, h.store.Get(statemanager.BucketContainers, "adopt-main", &rec))
		require.NotEmpty(t, rec.DockerName, "the name is persisted before the create")
		require.Empty(t, rec.DockerID)

		h.stop()
		h.rt.onCreate = nil
		h.start()
		synctest.Wait()
		s := h.snap(task.ARN)
		assert.Equal(t, StatusRunning, s.KnownStatus)
		assert.Equal(t, rec.DockerName, s.container("main").DockerName)
		assert.Len(t, h.rt.Containers(), 1, "adopted, not created twice")
		assert.Equal(t, 1, h.rt.Calls("CreateContainer"))
	})
}

func TestRestartMarksVanishedContainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("vanish", "main")
		h.add(task)
		synctest.Wait()
		id := h.snap(task.ARN).container("main").DockerID
		h.stop()
		require.NoError(t, h.rt.RemoveContainer(context.Background(), id))

		h.start()
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.container("main").Reason, "ContainerVanishedError")
	})
}

func TestReportAckPersistAndResend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("ack", "main")
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusRunning, r.Status)
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		_, pending := h.report(task.ARN)
		assert.False(t, pending, "acknowledged")
		var stored struct{ SentVersion uint64 }
		require.NoError(t, h.store.Get(statemanager.BucketTasks, "ack", &stored))
		assert.Equal(t, r.Version, stored.SentVersion, "the acknowledgement is persisted")

		// Nothing changed: a restart sends nothing again.
		h.restart()
		synctest.Wait()
		_, pending = h.report(task.ARN)
		assert.False(t, pending)

		// The container exits while the agent is down: the restarted agent
		// reports it.
		id := h.snap(task.ARN).container("main").DockerID
		h.stop()
		require.NoError(t, h.rt.Exit(id, 4))
		h.start()
		synctest.Wait()
		r2 := h.mustReport(task.ARN)
		assert.Greater(t, r2.Version, r.Version)
		assert.Equal(t, StatusStopped, r2.Status)
		assert.Equal(t, 4, *r2.container("main").ExitCode)

		// Not acknowledged before a restart: resent after it.
		h.restart()
		synctest.Wait()
		r3 := h.mustReport(task.ARN)
		assert.Equal(t, r2.Version, r3.Version)
	})
}

func TestCleanupAfterAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("clean", "main")
		task.Volumes = append(task.Volumes, wireScratchVolume("scratch"))
		task.Containers[0].MountPoints = append(task.Containers[0].MountPoints, wireMount("scratch", "/data"))
		h.add(task)
		synctest.Wait()
		require.Equal(t, 1, h.images.users())
		h.add(stopOf(task))
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusStopped, r.Status)

		// Not acknowledged: kept however long we wait.
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		assert.Len(t, h.rt.Containers(), 1)

		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		assert.Len(t, h.rt.Containers(), 1, "within ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Empty(t, h.rt.Containers())
		assert.Empty(t, h.e.Snapshot())
		assert.Zero(t, h.images.users())
		err := h.store.Get(statemanager.BucketTasks, "clean", &struct{}{})
		assert.True(t, errors.Is(err, statemanager.ErrNotFound), "deleted from agent.db: %v", err)
		err = h.store.Get(statemanager.BucketContainers, "clean-main", &struct{}{})
		assert.True(t, errors.Is(err, statemanager.ErrNotFound))
		_, err = h.rt.InspectVolume(context.Background(), h.spec0Volume(t))
		assert.True(t, errors.Is(err, rt.ErrNotFound), "the task-scoped volume is removed")
	})
}

func TestEventStreamBreakIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("events", "main", "side")
		h.add(task)
		synctest.Wait()
		h.rt.BreakEvents(errors.New("docker restarted"))
		require.NoError(t, h.rt.Exit(h.snap(task.ARN).container("side").DockerID, 9))
		time.Sleep(time.Minute) // reconnect backoff, then the relist
		synctest.Wait()
		assert.Equal(t, 9, *h.mustReport(task.ARN).container("side").ExitCode)
	})
}

func TestRelistCorrectsMissedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("relist", "main")
		h.add(task)
		synctest.Wait()
		// Docker's stream loses the die event; only the relist notices.
		h.rt.SetError("Events", errors.New("no stream"))
		h.rt.BreakEvents(errors.New("gone"))
		require.NoError(t, h.rt.Exit(h.snap(task.ARN).container("main").DockerID, 1))
		time.Sleep(DefaultRelistInterval + time.Second)
		synctest.Wait()
		assert.Equal(t, StatusStopped, h.mustReport(task.ARN).Status)
		h.rt.SetError("Events", nil)
	})
}

// TestRelistInspectsInOneBoundedBurst: at each tick the relist inspects
// every task's containers once, at most relistConcurrency at a time, and
// all within the same burst.
func TestRelistInspectsInOneBoundedBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		const tasks = 5
		var arns []string
		for i := range tasks {
			task := newTask(fmt.Sprint("burst-", i), "main")
			h.add(task)
			arns = append(arns, task.ARN)
		}
		synctest.Wait()
		for _, arn := range arns {
			require.Equal(t, StatusRunning, h.snap(arn).KnownStatus)
		}
		inspects := func() int { synctest.Wait(); return h.rt.Calls("InspectContainer") }
		before := inspects()
		release := h.rt.Block("InspectContainer")
		time.Sleep(DefaultRelistInterval) // the tick
		assert.Equal(t, before+relistConcurrency, inspects(), "the first inspections in flight, the others waiting for them")
		release()
		assert.Equal(t, before+tasks, inspects(), "then every task's, at once")
		time.Sleep(DefaultRelistInterval - time.Second)
		assert.Equal(t, before+tasks, inspects(), "each task once per relist")
	})
}

// The same restart on a real agent.db: what the engine stores survives the
// file's JSON round trip without a spurious new report.
func TestRestartOnBoltStore(t *testing.T) {
	dir := t.TempDir()
	open := func() statemanager.Store {
		s, err := statemanager.OpenBolt(dir, statemanager.BoltOptions{})
		require.NoError(t, err)
		return s
	}
	h := newHarness(t)
	h.store = open()
	h.start()
	task := newTask("bolt", "main")
	task.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}}
	h.add(task)
	var r TaskReport
	require.Eventually(t, func() bool {
		var ok bool
		r, ok = h.report(task.ARN)
		return ok && r.Status == StatusRunning
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
	id := h.snap(task.ARN).container("main").DockerID

	h.stop()
	require.NoError(t, h.store.Close())
	h.store = open()
	defer h.store.Close()
	h.start()
	s := h.snap(task.ARN)
	assert.Equal(t, StatusRunning, s.KnownStatus)
	assert.Equal(t, id, s.container("main").DockerID)
	_, pending := h.report(task.ARN)
	assert.False(t, pending, "nothing changed, nothing to resend")
	h.stop()
}
