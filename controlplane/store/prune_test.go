package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exists(t *testing.T, s Store, id string) bool {
	t.Helper()
	found := false
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.Task("c", id)
		found = err == nil
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}))
	return found
}

// A stopped task stays for the retention and is gone within one interval
// after it; live tasks are never pruned, however old.
func TestPrunerKeepsAnHourOfHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openTemp(t)
		start := time.Now()
		stoppedAt := func(ago time.Duration) *time.Time { at := start.Add(-ago); return &at }
		require.NoError(t, s.Update(func(tx Tx) error {
			for _, task := range []Task{
				{ID: "old", Cluster: "c", LastStatus: TaskStopped, DesiredStatus: TaskStopped, StoppedAt: stoppedAt(2 * time.Hour)},
				{ID: "recent", Cluster: "c", LastStatus: TaskStopped, DesiredStatus: TaskStopped, StoppedAt: stoppedAt(50 * time.Minute)},
				{ID: "running", Cluster: "c", LastStatus: TaskRunning, DesiredStatus: TaskRunning, CreatedAt: start.Add(-48 * time.Hour)},
				{ID: "stopping", Cluster: "c", LastStatus: TaskRunning, DesiredStatus: TaskStopped, StoppingAt: stoppedAt(3 * time.Hour)},
			} {
				if err := tx.PutTask(task); err != nil {
					return err
				}
			}
			return nil
		}))
		p := NewPruner(PrunerOptions{Store: s})
		require.Equal(t, time.Minute, p.Interval())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx)
		}()

		synctest.Wait()
		assert.False(t, exists(t, s, "old"), "stopped two hours ago: pruned at start")
		assert.True(t, exists(t, s, "recent"))
		assert.True(t, exists(t, s, "running"))

		time.Sleep(9*time.Minute + time.Second) // just under the hour since "recent" stopped
		synctest.Wait()
		assert.True(t, exists(t, s, "recent"), "describable for at least an hour")

		time.Sleep(2 * time.Minute) // the hour ended at 10 min; one interval later
		synctest.Wait()
		assert.False(t, exists(t, s, "recent"), "pruned within a minute after its hour")
		assert.True(t, exists(t, s, "running"))
		assert.True(t, exists(t, s, "stopping"), "a task is pruned only once it is STOPPED")

		cancel()
		<-done
	})
}

// A backlog larger than a batch is deleted in several transactions, all
// in one round.
func TestPruneDeletesABacklogInBatches(t *testing.T) {
	s := openTemp(t)
	old := time.Now().Add(-2 * time.Hour)
	n := 2*pruneBatch + 17
	require.NoError(t, s.Update(func(tx Tx) error {
		for i := range n {
			if err := tx.PutTask(Task{ID: fmt.Sprint(i), Cluster: "c", LastStatus: TaskStopped, StoppedAt: &old}); err != nil {
				return err
			}
		}
		return nil
	}))
	updates := 0
	counting := countingStore{Store: s, updates: &updates}
	got, err := NewPruner(PrunerOptions{Store: counting}).Prune(context.Background())
	require.NoError(t, err)
	assert.Equal(t, n, got)
	assert.Equal(t, 3, updates)
	require.NoError(t, s.View(func(tx Tx) error {
		all, err := tx.Tasks("")
		require.NoError(t, err)
		assert.Empty(t, all)
		return nil
	}))
}

type countingStore struct {
	Store
	updates *int
}

func (c countingStore) Update(fn func(Tx) error) error {
	*c.updates++
	return c.Store.Update(fn)
}
