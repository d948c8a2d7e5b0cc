package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// summariesMatch checks that LiveTaskSummaries gives the live tasks'
// Live(), and returns them.
func summariesMatch(t *testing.T, s Store, cluster string) []LiveTask {
	t.Helper()
	var got []LiveTask
	require.NoError(t, s.View(func(tx Tx) error {
		full, err := tx.LiveTasks(cluster, "")
		require.NoError(t, err)
		got, err = tx.LiveTaskSummaries(cluster, "")
		require.NoError(t, err)
		var want []LiveTask
		for _, task := range full {
			want = append(want, task.Live())
		}
		assert.Equal(t, want, got)
		return nil
	}))
	return got
}

// A change that keeps a task's place in the live index (its status, its
// desired status, what it holds) still changes the summary the index
// keeps; a task that stops leaves it.
func TestLiveIndexFollowsTaskChanges(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	task := Task{ID: "t1", Cluster: "c", ContainerInstanceARN: "ci", LastStatus: TaskPending, DesiredStatus: TaskRunning,
		Group: "service:web", Reserved: Reservation{CPU: 2, MemoryMiB: 16}}
	put := func(change func(*Task)) []LiveTask {
		t.Helper()
		change(&task)
		require.NoError(t, s.Update(func(tx Tx) error { return tx.PutTask(task) }))
		return summariesMatch(t, s, "c")
	}
	got := put(func(*Task) {})
	require.Len(t, got, 1)
	assert.Equal(t, TaskPending, got[0].LastStatus)

	got = put(func(t *Task) { t.LastStatus = TaskRunning })
	require.Len(t, got, 1)
	assert.Equal(t, TaskRunning, got[0].LastStatus)

	got = put(func(t *Task) { t.DesiredStatus = TaskStopped; t.Reserved.PortsTCP = []int{80} })
	require.Len(t, got, 1)
	assert.Equal(t, TaskStopped, got[0].DesiredStatus)
	assert.Equal(t, []int{80}, got[0].Reserved.PortsTCP)

	assert.Empty(t, put(func(t *Task) { t.LastStatus = TaskStopped }))
}

// A file from before the summaries (its live index has empty values) is
// still read right, and the migration fills them in.
func TestLiveIndexWithoutSummaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	before := len(migrations) - 1
	s, err := open(path, Options{}, migrations[:before])
	require.NoError(t, err)
	require.NoError(t, s.Update(func(tx Tx) error {
		for i, status := range []string{TaskPending, TaskRunning, TaskStopped} {
			err := tx.PutTask(Task{ID: fmt.Sprint("t", i), Cluster: "c", ContainerInstanceARN: "ci", LastStatus: status,
				DesiredStatus: TaskRunning, Reserved: Reservation{CPU: 2 + i, MemoryMiB: 16}})
			if err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())
	liveValues := func() (n, empty int) {
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		defer db.Close()
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(indexLive.bucket).ForEach(func(_, v []byte) error {
				n++
				if len(v) == 0 {
					empty++
				}
				return nil
			})
		}))
		return n, empty
	}
	// What the release before this step wrote: keys with empty values.
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(indexLive.bucket)
		var keys [][]byte
		require.NoError(t, b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil }))
		for _, k := range keys {
			if err := b.Put(k, []byte{}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	n, empty := liveValues()
	require.Equal(t, 2, n)
	require.Equal(t, 2, empty)

	s, err = open(path, Options{}, migrations[:before])
	require.NoError(t, err)
	assert.Len(t, summariesMatch(t, s, "c"), 2, "read from the records")
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	assert.Len(t, summariesMatch(t, s, "c"), 2)
	require.NoError(t, s.Close())
	n, empty = liveValues()
	assert.Equal(t, 2, n)
	assert.Zero(t, empty, "the migration wrote every summary")
}
