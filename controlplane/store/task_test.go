package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaskStatusRankIsMonotonic(t *testing.T) {
	assert.Less(t, TaskStatusRank(""), TaskStatusRank(TaskPending))
	assert.Less(t, TaskStatusRank(TaskPending), TaskStatusRank(TaskRunning))
	assert.Less(t, TaskStatusRank(TaskRunning), TaskStatusRank(TaskStopped))
	assert.Zero(t, TaskStatusRank("DEPROVISIONING"))
}

func TestTaskDeliveryAndHolds(t *testing.T) {
	for _, tc := range []struct {
		name              string
		last, desired     string
		acked             string
		needs, holdsStill bool
	}{
		{"new", TaskPending, TaskRunning, "", true, true},
		{"acked", TaskRunning, TaskRunning, TaskRunning, false, true},
		{"stop requested", TaskRunning, TaskStopped, TaskRunning, true, true},
		{"stop acked", TaskRunning, TaskStopped, TaskStopped, false, true},
		{"stopped before the stop was acked", TaskStopped, TaskStopped, TaskRunning, false, false},
		{"stopped on its own", TaskStopped, TaskStopped, TaskRunning, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := Task{LastStatus: tc.last, DesiredStatus: tc.desired, Delivery: TaskDelivery{AckedDesiredStatus: tc.acked}}
			assert.Equal(t, tc.needs, task.NeedsDelivery())
			assert.Equal(t, tc.holdsStill, task.Holds())
		})
	}
}

func TestTaskPersists(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	now := time.Now().UTC().Round(time.Millisecond)
	code := 137
	in := Task{
		ID: "a1", Cluster: "c", ARN: "arn:task/c/a1", LastStatus: TaskStopped, DesiredStatus: TaskStopped,
		StartedAt: &now, StoppedAt: &now, StopCode: StopCodeUserInitiated,
		Containers: []TaskContainer{{Name: "web", ExitCode: &code, Essential: true,
			NetworkBindings: []NetworkBinding{{ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}}}},
		Reserved: Reservation{CPU: 256, MemoryMiB: 512, PortsTCP: []int{8080}},
		Delivery: TaskDelivery{MessageID: "m", AckedDesiredStatus: TaskStopped, AckedAt: &now},
	}
	other := Task{ID: "b2", Cluster: "c-other"}
	require.NoError(t, s.Update(func(tx Tx) error {
		if err := tx.PutTask(other); err != nil {
			return err
		}
		return tx.PutTask(in)
	}))
	require.NoError(t, s.View(func(tx Tx) error {
		got, err := tx.Task("c", "a1")
		require.NoError(t, err)
		assert.Equal(t, in.Reserved, got.Reserved)
		assert.Equal(t, in.Delivery.AckedDesiredStatus, got.Delivery.AckedDesiredStatus)
		assert.True(t, now.Equal(*got.StoppedAt))
		assert.Equal(t, 137, *got.Containers[0].ExitCode)
		assert.True(t, got.Containers[0].Essential)
		tasks, err := tx.Tasks("c")
		require.NoError(t, err)
		assert.Len(t, tasks, 1, "the prefix scan must not include cluster c-other")
		_, err = tx.Task("c", "zz")
		assert.ErrorIs(t, err, ErrNotFound)
		return nil
	}))
}
