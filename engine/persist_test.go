package engine

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/testutil"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/statemanager/statetest"
)

// errKilled is what a write returns once the agent "died".
var errKilled = errors.New("killed: the write never reached the disk")

// startLogged is harness.start with the engine's log kept in buf.
func (h *harness) startLogged(buf *testutil.SyncBuffer) {
	h.t.Helper()
	e, err := New(Options{
		Runtime: h.rt, Images: h.images, Store: h.store, Config: h.cfg, HostResources: h.res,
		PortFree: func(string, uint16) bool { return true },
		Logger:   slog.New(slog.NewTextHandler(buf, nil)),
	})
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.e, h.cancel, h.done = e, cancel, make(chan error, 1)
	go func() { h.done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-h.done:
		h.t.Fatalf("engine ended before it was ready: %v", err)
	}
	h.t.Cleanup(h.stop)
}

func requireGone(t *testing.T, s statemanager.Store, id string, containers ...string) {
	t.Helper()
	var v struct{}
	require.ErrorIs(t, s.Get(statemanager.BucketTasks, id, &v), statemanager.ErrNotFound, "task %s", id)
	for _, c := range containers {
		require.ErrorIs(t, s.Get(statemanager.BucketContainers, containerKey(id, c), &v), statemanager.ErrNotFound, "container %s", c)
	}
}

// The agent is killed during cleanup right after the first write of the
// removal reaches the disk. Removing the task in one transaction means the
// restarted agent finds the task either whole or gone; the two deletes of
// the past left it without its containers, and the next start refused the
// whole file.
func TestCleanupKilledMidDeleteLeavesLoadableState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		disk := h.store
		faulty := statetest.NewFaulty(disk)
		h.store = faulty
		h.start()
		task := newTask("killed", "main", "side")
		h.add(task)
		synctest.Wait()
		h.add(stopOf(task))
		synctest.Wait()
		r := h.mustReport(task.ARN)
		require.Equal(t, StatusStopped, r.Status)
		require.NoError(t, h.e.MarkReported(context.Background(), task.ARN, r.Version))
		synctest.Wait()

		faulty.FailAfter(1, errKilled) // the first write of the removal, then kill -9
		time.Sleep(h.cfg.TaskCleanupWaitDuration)
		synctest.Wait()
		require.Empty(t, h.rt.Containers(), "the cleanup removed the containers before the records")

		h.stop()
		h.store = disk // the next agent reads what reached the disk
		h.start()
		synctest.Wait()
		assert.Empty(t, h.e.Snapshot())
		requireGone(t, disk, "killed", "main", "side")
	})
}

// An agent.db from before atomic deletes may hold a task without (some of)
// its container records. It is logged and dropped; the other tasks load.
func TestLoadDropsTaskWithMissingContainers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		ok := newTask("whole", "main")
		half := newTask("half", "main", "side")
		h.add(ok)
		h.add(half)
		synctest.Wait()
		h.stop()
		require.NoError(t, h.store.Delete(statemanager.BucketContainers, containerKey("half", "main")))
		stops := h.rt.Calls("StopContainer")

		var log testutil.SyncBuffer
		h.startLogged(&log)
		synctest.Wait()
		snaps := h.e.Snapshot()
		require.Len(t, snaps, 1)
		assert.Equal(t, ok.ARN, snaps[0].ARN)
		assert.Equal(t, StatusRunning, snaps[0].KnownStatus)
		requireGone(t, h.store, "half", "main", "side")
		assert.Contains(t, log.String(), "dropping a stored task whose container records are missing")
		assert.Contains(t, log.String(), half.ARN)
		assert.Contains(t, log.String(), "container=main")
		assert.Equal(t, stops, h.rt.Calls("StopContainer"), "a dropped task's containers are not touched")
	})
}

// A record that cannot be decoded is no crash leftover: the engine refuses
// to start with statemanager.ErrCorrupt, which the agent makes terminal,
// rather than forget a task that may be running.
func TestLoadRefusesUnreadableRecord(t *testing.T) {
	for name, put := range map[string]func(s statemanager.Store) error{
		"task": func(s statemanager.Store) error {
			return s.Put(statemanager.BucketTasks, "bad", "not a task")
		},
		"container": func(s statemanager.Store) error {
			return s.PutMany(
				statemanager.Record{Bucket: statemanager.BucketTasks, Key: "bad", Value: map[string]any{"Arn": arn("bad"), "ContainerNames": []string{"main"}}},
				statemanager.Record{Bucket: statemanager.BucketContainers, Key: "bad-main", Value: map[string]any{"Container": map[string]any{"KnownStatus": 7}}},
			)
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			require.NoError(t, put(h.store))
			e, err := New(Options{Runtime: h.rt, Images: h.images, Store: h.store, Config: h.cfg})
			require.NoError(t, err)
			err = e.Run(context.Background())
			require.ErrorIs(t, err, statemanager.ErrCorrupt)
			assert.Contains(t, err.Error(), "bad")
			assert.Contains(t, err.Error(), "docs/operating.md")
		})
	}
}
