package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openTemp(t *testing.T) *Bolt {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// Every indexed read answers exactly what a scan of every record would,
// after any sequence of writes, status changes, acks and deletes.
func TestTaskIndexesMatchAScan(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(7, 8))
	clusters := []string{"a", "a-b", "c"}
	instances := []string{"arn:ci/x/1", "arn:ci/x/2", "arn:ci/x/3"}
	statuses := []string{TaskPending, TaskRunning, TaskStopped}
	base := time.Unix(1_800_000_000, 0).UTC()
	for round := range 40 {
		require.NoError(t, s.Update(func(tx Tx) error {
			for range 25 {
				cluster := clusters[r.IntN(len(clusters))]
				id := fmt.Sprintf("%032x", r.IntN(60))
				if r.IntN(6) == 0 {
					if err := tx.DeleteTask(cluster, id); err != nil {
						return err
					}
					continue
				}
				task := Task{ID: id, Cluster: cluster, ARN: "arn:task/" + cluster + "/" + id,
					ContainerInstanceARN: instances[r.IntN(len(instances))],
					LastStatus:           statuses[r.IntN(3)], DesiredStatus: statuses[1+r.IntN(2)],
					Delivery:  TaskDelivery{AckedDesiredStatus: []string{"", TaskRunning, TaskStopped}[r.IntN(3)]},
					CreatedAt: base}
				if task.LastStatus == TaskStopped && r.IntN(4) > 0 {
					at := base.Add(time.Duration(r.IntN(1000)) * time.Second)
					task.StoppedAt = &at
				}
				if err := tx.PutTask(task); err != nil {
					return err
				}
			}
			return nil
		}), "round %d", round)
	}

	require.NoError(t, s.View(func(tx Tx) error {
		all, err := tx.Tasks("")
		require.NoError(t, err)
		require.NotEmpty(t, all)
		for _, cluster := range clusters {
			var live []Task
			for _, task := range all {
				if task.Cluster == cluster && task.Holds() {
					live = append(live, task)
				}
			}
			got, err := tx.LiveTasks(cluster, "")
			require.NoError(t, err)
			assert.ElementsMatch(t, live, got, "live tasks of %s", cluster)
			for _, ci := range instances {
				got, err := tx.LiveTasks(cluster, ci)
				require.NoError(t, err)
				want := slices.DeleteFunc(slices.Clone(live), func(task Task) bool { return task.ContainerInstanceARN != ci })
				assert.ElementsMatch(t, want, got, "live tasks of %s on %s", cluster, ci)
			}
			for _, desired := range statuses {
				var want []string
				for _, task := range all {
					if task.Cluster == cluster && task.DesiredStatus == desired {
						want = append(want, task.ID)
					}
				}
				got, err := tx.TaskIDsByDesired(cluster, desired)
				require.NoError(t, err)
				assert.Equal(t, want, got, "%s tasks of %s, sorted", desired, cluster)
			}
		}
		for _, ci := range append(instances, "") {
			var want []Task
			for _, task := range all {
				if task.NeedsDelivery() && (ci == "" || task.ContainerInstanceARN == ci) {
					want = append(want, task)
				}
			}
			got, err := tx.UndeliveredTasks(ci)
			require.NoError(t, err)
			assert.ElementsMatch(t, want, got, "undelivered tasks of %q", ci)
		}
		cutoff := base.Add(500 * time.Second)
		var want []TaskKey
		for _, task := range all {
			if task.LastStatus == TaskStopped && (task.StoppedAt == nil || task.StoppedAt.Before(cutoff)) {
				want = append(want, TaskKey{task.Cluster, task.ID})
			}
		}
		got, err := tx.StoppedBefore(cutoff, len(all))
		require.NoError(t, err)
		assert.ElementsMatch(t, want, got)
		return nil
	}))
}

func TestStoppedBeforeIsOldestFirstAndLimited(t *testing.T) {
	s := openTemp(t)
	base := time.Unix(1_800_000_000, 0).UTC()
	require.NoError(t, s.Update(func(tx Tx) error {
		for i, offset := range []int{30, 10, 20, 40} {
			at := base.Add(time.Duration(offset) * time.Second)
			if err := tx.PutTask(Task{ID: fmt.Sprint(i), Cluster: "c", LastStatus: TaskStopped, StoppedAt: &at}); err != nil {
				return err
			}
		}
		return tx.PutTask(Task{ID: "running", Cluster: "c", LastStatus: TaskRunning})
	}))
	require.NoError(t, s.View(func(tx Tx) error {
		got, err := tx.StoppedBefore(base.Add(35*time.Second), 10)
		require.NoError(t, err)
		assert.Equal(t, []TaskKey{{"c", "1"}, {"c", "2"}, {"c", "0"}}, got)
		got, err = tx.StoppedBefore(base.Add(time.Hour), 2)
		require.NoError(t, err)
		assert.Equal(t, []TaskKey{{"c", "1"}, {"c", "2"}}, got)
		return nil
	}))
}

// The index entries are written in the record's transaction: a rolled
// back write leaves neither.
func TestTaskIndexRollsBackWithTheRecord(t *testing.T) {
	s := openTemp(t)
	boom := errors.New("boom")
	err := s.Update(func(tx Tx) error {
		require.NoError(t, tx.PutTask(Task{ID: "1", Cluster: "c", ContainerInstanceARN: "ci", LastStatus: TaskPending, DesiredStatus: TaskRunning}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.View(func(tx Tx) error {
		live, err := tx.LiveTasks("c", "")
		require.NoError(t, err)
		assert.Empty(t, live)
		undelivered, err := tx.UndeliveredTasks("")
		require.NoError(t, err)
		assert.Empty(t, undelivered)
		return nil
	}))
}

func TestDeleteTask(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	require.NoError(t, s.Update(func(tx Tx) error {
		require.NoError(t, tx.PutTask(Task{ID: "1", Cluster: "c", LastStatus: TaskStopped, DesiredStatus: TaskStopped, StoppedAt: &now}))
		require.NoError(t, tx.DeleteTask("c", "1"))
		return tx.DeleteTask("c", "never-there")
	}))
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.Task("c", "1")
		assert.ErrorIs(t, err, ErrNotFound)
		ids, err := tx.TaskIDsByDesired("c", TaskStopped)
		require.NoError(t, err)
		assert.Empty(t, ids)
		old, err := tx.StoppedBefore(now.Add(time.Hour), 10)
		require.NoError(t, err)
		assert.Empty(t, old)
		return nil
	}))
}
