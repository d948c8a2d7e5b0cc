package engine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
)

// Volume calls have deadlines: a volume driver (or Docker) that never
// answers must fail the task or the cleanup, not hang its worker.

func TestVolumeCreateHasADeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		defer h.rt.Block("CreateVolume")()
		task := newTask("volhang", "main")
		task.Volumes = []wire.Volume{wireScratchVolume("scratch")}
		task.Containers[0].MountPoints = []wire.MountPoint{wireMount("scratch", "/data")}
		h.add(task)

		time.Sleep(volumeCreateTimeout - time.Second)
		synctest.Wait()
		assert.Equal(t, StatusPending, h.snap(task.ARN).KnownStatus, "still within the deadline")
		time.Sleep(time.Second)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status, "a create that never returns fails the task")
		assert.Contains(t, r.Reason, "ResourceInitializationError")
		assert.Contains(t, r.Reason, "deadline exceeded")
		assert.Empty(t, r.container("main").RuntimeID, "no container without its volume")
	})
}

func TestSharedVolumeInspectHasADeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		defer h.rt.Block("InspectVolume")()
		task := newTask("inspecthang", "main")
		task.Volumes = []wire.Volume{{Name: "cache", DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{Scope: wire.ScopeShared}}}
		task.Containers[0].MountPoints = []wire.MountPoint{wireMount("cache", "/cache")}
		h.add(task)

		time.Sleep(volumeInspectTimeout)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status, "an inspect that never returns fails the task")
		assert.Contains(t, r.Reason, `inspect shared volume "cache"`)
	})
}

func TestVolumeRemoveHasADeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.TaskCleanupWaitDuration = time.Second
		h.start()
		task := newTask("rmhang", "main")
		task.Containers[0].Image = h.program(exits(0))
		task.Volumes = []wire.Volume{wireScratchVolume("scratch")}
		task.Containers[0].MountPoints = []wire.MountPoint{wireMount("scratch", "/data")}
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusStopped, r.Status)

		release := h.rt.Block("RemoveVolume")
		defer release()
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		time.Sleep(time.Second) // the cleanup wait
		synctest.Wait()
		require.Equal(t, 1, h.rt.Calls("RemoveVolume"), "cleanup removes the task's volume")

		// The remove gives up at its deadline; the cleanup is retried a
		// minute later, so the worker was not stuck.
		time.Sleep(volumeRemoveTimeout + time.Minute)
		synctest.Wait()
		assert.Equal(t, 2, h.rt.Calls("RemoveVolume"), "the hung remove timed out and was retried")
		release()
		synctest.Wait()
		assert.Empty(t, h.e.Snapshot(), "the retry completes the cleanup")
	})
}
