package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// TaskDefinitionDeleteInProgress is the status of a revision that
// DeleteTaskDefinitions accepted: it runs no new task, and the pruner
// removes it once nothing uses it (FinishTaskDefinitionDeletions).
const TaskDefinitionDeleteInProgress = "DELETE_IN_PROGRESS"

var (
	// task-definitions-deleting: <family>|<revision, 10 digits> -> ""
	// The revisions whose status is DELETE_IN_PROGRESS: the pruner's work.
	// Derived from the records, so only a migration creates it.
	bucketTaskDefsDeleting = []byte("task-definitions-deleting")
	// task-definition-families: <family> -> TaskDefinitionFamily
	// Written when a revision is deleted, so that the family keeps
	// counting from its highest revision, as ECS does.
	bucketTaskDefFamilies = []byte("task-definition-families")
)

// TaskDefinitionKey names one revision.
type TaskDefinitionKey struct {
	Family   string
	Revision int
}

// TaskDefinitionFamily is what outlives a family's deleted revisions.
type TaskDefinitionFamily struct {
	Family string `json:"family"`
	// LastRevision is the highest revision the family had when one of its
	// revisions was deleted.
	LastRevision int `json:"lastRevision"`
}

// TaskDefinitionDeletionTx is the part of Tx that deletes revisions.
type TaskDefinitionDeletionTx interface {
	// DeleteTaskDefinition removes a revision for good; a missing one is
	// not an error. The family's next revision is still numbered after
	// the highest it ever had.
	DeleteTaskDefinition(family string, revision int) error
	// LastTaskDefinitionRevision returns the highest revision family ever
	// had, deleted ones included; 0 for a new family.
	LastTaskDefinitionRevision(family string) (int, error)
	// TaskDefinitionsDeleting returns the revisions whose status is
	// DELETE_IN_PROGRESS, in no promised order.
	TaskDefinitionsDeleting() ([]TaskDefinitionKey, error)
}

func deletingKey(td TaskDefinition) []byte {
	if td.Status != TaskDefinitionDeleteInProgress {
		return nil
	}
	return joinKey(td.Family, fmt.Sprintf("%010d", td.Revision))
}

// indexDeleting keeps the deleting index in step with a revision that
// changes from old (nil: none) to td (nil: deleted).
func (t boltTx) indexDeleting(old, td *TaskDefinition) error {
	var oldKey, newKey []byte
	if old != nil {
		oldKey = deletingKey(*old)
	}
	if td != nil {
		newKey = deletingKey(*td)
	}
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	b := t.tx.Bucket(bucketTaskDefsDeleting)
	if oldKey != nil {
		if err := b.Delete(oldKey); err != nil {
			return fmt.Errorf("index %s: %w", bucketTaskDefsDeleting, err)
		}
	}
	if newKey != nil {
		if err := b.Put(newKey, []byte{}); err != nil {
			return fmt.Errorf("index %s: %w", bucketTaskDefsDeleting, err)
		}
	}
	return nil
}

func (t boltTx) PutTaskDefinition(td TaskDefinition) error {
	key := taskDefKey(td.Family, td.Revision)
	old, err := get[TaskDefinition](t.tx, bucketTaskDefs, key)
	var oldp *TaskDefinition
	switch {
	case err == nil:
		oldp = &old
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if err := put(t.tx, bucketTaskDefs, key, td); err != nil {
		return err
	}
	return t.indexDeleting(oldp, &td)
}

func (t boltTx) DeleteTaskDefinition(family string, revision int) error {
	key := taskDefKey(family, revision)
	old, err := get[TaskDefinition](t.tx, bucketTaskDefs, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	last, err := t.LastTaskDefinitionRevision(family)
	if err != nil {
		return err
	}
	if err := put(t.tx, bucketTaskDefFamilies, []byte(family), TaskDefinitionFamily{Family: family, LastRevision: last}); err != nil {
		return err
	}
	if err := t.indexDeleting(&old, nil); err != nil {
		return err
	}
	return t.tx.Bucket(bucketTaskDefs).Delete(key)
}

func (t boltTx) LastTaskDefinitionRevision(family string) (int, error) {
	last := 0
	f, err := get[TaskDefinitionFamily](t.tx, bucketTaskDefFamilies, []byte(family))
	switch {
	case err == nil:
		last = f.LastRevision
	case !errors.Is(err, ErrNotFound):
		return 0, err
	}
	// The highest stored revision: the last key with the family's prefix.
	prefix := []byte(family + "/")
	c := t.tx.Bucket(bucketTaskDefs).Cursor()
	k, _ := c.Seek(append(append([]byte{}, prefix...), 0xff))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k != nil && bytes.HasPrefix(k, prefix) {
		rev, err := strconv.Atoi(string(k[len(prefix):]))
		if err != nil {
			return 0, fmt.Errorf("%w: task definition key %q", ErrCorrupt, k)
		}
		last = max(last, rev)
	}
	return last, nil
}

func (t boltTx) TaskDefinitionsDeleting() ([]TaskDefinitionKey, error) {
	var out []TaskDefinitionKey
	err := t.tx.Bucket(bucketTaskDefsDeleting).ForEach(func(k, _ []byte) error {
		family, rev, ok := strings.Cut(string(k), keySep)
		n, err := strconv.Atoi(rev)
		if !ok || err != nil {
			return fmt.Errorf("%w: index %s has a malformed key %q", ErrCorrupt, bucketTaskDefsDeleting, k)
		}
		out = append(out, TaskDefinitionKey{Family: family, Revision: n})
		return nil
	})
	return out, err
}

// buildTaskDefinitionDeletingIndex (re)builds the deleting index from every
// task definition record: the migration step that introduces it.
func buildTaskDefinitionDeletingIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketTaskDefsDeleting) != nil {
		if err := tx.DeleteBucket(bucketTaskDefsDeleting); err != nil {
			return fmt.Errorf("drop index %s: %w", bucketTaskDefsDeleting, err)
		}
	}
	b, err := tx.CreateBucket(bucketTaskDefsDeleting)
	if err != nil {
		return fmt.Errorf("create index %s: %w", bucketTaskDefsDeleting, err)
	}
	defs := tx.Bucket(bucketTaskDefs)
	if defs == nil {
		return nil // a new file
	}
	return defs.ForEach(func(k, raw []byte) error {
		var td TaskDefinition
		if err := json.Unmarshal(raw, &td); err != nil {
			return fmt.Errorf("%w: task definition %s: %v", errUnreadableRecord, k, err)
		}
		if key := deletingKey(td); key != nil {
			return b.Put(key, []byte{})
		}
		return nil
	})
}

// FinishTaskDefinitionDeletions removes every DELETE_IN_PROGRESS revision
// that no task uses any more (no task of it is short of STOPPED), as ECS
// does once a revision's last task has stopped, and returns how many it
// removed. Stopped tasks that still reference a removed revision stay
// describable: they carry its ARN, not the revision.
func (p *Pruner) FinishTaskDefinitionDeletions(ctx context.Context) (int, error) {
	n := 0
	err := p.o.Store.Update(func(tx Tx) error {
		n = 0
		if ctx.Err() != nil {
			return ctx.Err()
		}
		deleting, err := tx.TaskDefinitionsDeleting()
		if err != nil || len(deleting) == 0 {
			return err
		}
		inUse, err := taskDefinitionsInUse(tx)
		if err != nil {
			return err
		}
		for _, k := range deleting {
			if inUse[k] {
				continue
			}
			if err := tx.DeleteTaskDefinition(k.Family, k.Revision); err != nil {
				return fmt.Errorf("delete task definition %s:%d: %w", k.Family, k.Revision, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// taskDefinitionsInUse returns the revisions of every task that is not
// STOPPED, in every cluster (the live-task index makes this proportional
// to the work running now), and those of every deployment of a service
// that is not INACTIVE: its scheduler may start tasks of them at any time.
func taskDefinitionsInUse(tx Tx) (map[TaskDefinitionKey]bool, error) {
	clusters, err := tx.Clusters()
	if err != nil {
		return nil, err
	}
	inUse := map[TaskDefinitionKey]bool{}
	for _, c := range clusters {
		tasks, err := tx.LiveTasks(c.Name, "")
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			inUse[TaskDefinitionKey{Family: t.Family, Revision: t.Revision}] = true
		}
	}
	services, err := tx.Services("")
	if err != nil {
		return nil, err
	}
	for _, s := range services {
		if s.Status == ServiceInactive {
			continue
		}
		for _, d := range s.Deployments {
			inUse[TaskDefinitionKey{Family: d.Family, Revision: d.Revision}] = true
		}
	}
	return inUse, nil
}
