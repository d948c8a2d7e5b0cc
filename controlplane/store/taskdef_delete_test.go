package store

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func revision(family string, rev int, status string) TaskDefinition {
	return TaskDefinition{Family: family, Revision: rev, Status: status}
}

func revisionExists(t *testing.T, s Store, family string, rev int) bool {
	t.Helper()
	found := false
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.TaskDefinition(family, rev)
		found = err == nil
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}))
	return found
}

func deleting(t *testing.T, s Store) []TaskDefinitionKey {
	t.Helper()
	var out []TaskDefinitionKey
	require.NoError(t, s.View(func(tx Tx) error {
		var err error
		out, err = tx.TaskDefinitionsDeleting()
		return err
	}))
	return out
}

// A revision being deleted is in the deleting index exactly while its
// status says so, and a deleted revision's number is never given again.
func TestDeleteTaskDefinitionKeepsTheRevisionCount(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.Update(func(tx Tx) error {
		for _, td := range []TaskDefinition{
			revision("web", 1, StatusInactive), revision("web", 2, StatusActive),
			revision("web", 3, TaskDefinitionDeleteInProgress), revision("web-b", 7, TaskDefinitionDeleteInProgress),
		} {
			if err := tx.PutTaskDefinition(td); err != nil {
				return err
			}
		}
		return nil
	}))
	assert.ElementsMatch(t, []TaskDefinitionKey{{"web", 3}, {"web-b", 7}}, deleting(t, s))

	require.NoError(t, s.Update(func(tx Tx) error {
		if err := tx.PutTaskDefinition(revision("web-b", 7, StatusInactive)); err != nil {
			return err
		}
		return tx.DeleteTaskDefinition("web", 3)
	}))
	assert.Empty(t, deleting(t, s), "a status change and a deletion both leave the index")
	assert.False(t, revisionExists(t, s, "web", 3))
	require.NoError(t, s.View(func(tx Tx) error {
		last, err := tx.LastTaskDefinitionRevision("web")
		require.NoError(t, err)
		assert.Equal(t, 3, last, "the deleted revision still counts")
		last, err = tx.LastTaskDefinitionRevision("web-b")
		require.NoError(t, err)
		assert.Equal(t, 7, last)
		last, err = tx.LastTaskDefinitionRevision("we")
		require.NoError(t, err)
		assert.Equal(t, 0, last, "a prefix of a family is another family")
		revs, err := tx.TaskDefinitions("web")
		require.NoError(t, err)
		assert.Len(t, revs, 2)
		return tx.DeleteTaskDefinition("web", 99) // missing: no error
	}))
}

// The pruner removes a revision being deleted once no task that is not
// STOPPED uses it, and leaves the others.
func TestPrunerFinishesTaskDefinitionDeletions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openTemp(t)
		live := Task{ID: "t1", Cluster: "c", Family: "web", Revision: 1, LastStatus: TaskRunning, DesiredStatus: TaskRunning}
		require.NoError(t, s.Update(func(tx Tx) error {
			if err := tx.PutCluster(Cluster{Name: "c", Status: StatusActive}); err != nil {
				return err
			}
			for _, td := range []TaskDefinition{
				revision("web", 1, TaskDefinitionDeleteInProgress), revision("web", 2, TaskDefinitionDeleteInProgress),
				revision("web", 3, StatusInactive),
			} {
				if err := tx.PutTaskDefinition(td); err != nil {
					return err
				}
			}
			return tx.PutTask(live)
		}))
		p := NewPruner(PrunerOptions{Store: s})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx)
		}()
		synctest.Wait()
		assert.True(t, revisionExists(t, s, "web", 1), "a running task uses it")
		assert.False(t, revisionExists(t, s, "web", 2), "nothing uses it: gone at the first round")
		assert.True(t, revisionExists(t, s, "web", 3), "INACTIVE is not being deleted")

		live.LastStatus, live.DesiredStatus = TaskStopped, TaskStopped
		now := time.Now()
		live.StoppedAt = &now
		require.NoError(t, s.Update(func(tx Tx) error { return tx.PutTask(live) }))
		time.Sleep(p.Interval())
		synctest.Wait()
		assert.False(t, revisionExists(t, s, "web", 1), "gone within an interval of its last task stopping")
		assert.True(t, exists(t, s, "t1"), "the stopped task stays describable")
		assert.Empty(t, deleting(t, s))
		cancel()
		<-done
	})
}

// The migration that introduces the deleting index builds it from the
// records already there.
func TestDeletingIndexIsBuiltFromRecords(t *testing.T) {
	s := openTemp(t)
	require.NoError(t, s.Update(func(tx Tx) error {
		return tx.PutTaskDefinition(revision("web", 4, TaskDefinitionDeleteInProgress))
	}))
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketTaskDefsDeleting); err != nil {
			return err
		}
		return buildTaskDefinitionDeletingIndex(tx)
	}))
	assert.Equal(t, []TaskDefinitionKey{{"web", 4}}, deleting(t, s))
}
