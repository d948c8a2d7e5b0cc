package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Task indexes keep every read that the control plane does often (placing
// a task, listing, the delivery sweep, pruning) proportional to the tasks
// it is about, not to the history kept. Each index is a bucket of keys
// with empty values, or values computed from the task (the live index
// keeps each task's LiveTask); a task has at most one key in each,
// computed from the task alone, so PutTask and DeleteTask replace a task's
// old entries with its new ones in the record's own transaction: there is
// one write path and no index can drift from the records.
//
// To add an index (for example by service): declare a taskIndex, add it to
// taskIndexes, and append a migration that builds it (schema.go). Changing
// an existing index's key is a schema change too: a migration rebuilds it.
type taskIndex struct {
	bucket []byte
	// key is the task's key in the index; nil keeps the task out of it.
	key func(Task) []byte
	// value is the entry's value (nil: empty).
	value func(Task) ([]byte, error)
}

// keySep separates a key's parts; no cluster name, status, ARN or task ID
// contains it.
const keySep = "|"

var (
	// indexLive holds the tasks that are not STOPPED: what placement and
	// instance views need, by cluster and instance. Each entry's value is
	// the task's LiveTask in JSON, so that those views read the index
	// alone, in key order, instead of every task's whole record
	// (LiveTaskSummaries).
	indexLive = taskIndex{bucket: []byte("tasks-live"), key: func(t Task) []byte {
		if !t.Holds() {
			return nil
		}
		return joinKey(t.Cluster, t.ContainerInstanceARN, t.ID)
	}, value: func(t Task) ([]byte, error) { return json.Marshal(t.Live()) }}
	// indexDesired serves ListTasks, which filters by desired status.
	indexDesired = taskIndex{bucket: []byte("tasks-desired"), key: func(t Task) []byte {
		return joinKey(t.Cluster, t.DesiredStatus, t.ID)
	}}
	// indexUndelivered holds the tasks whose desired status the agent has
	// not acknowledged, by instance: the delivery sweep's work.
	indexUndelivered = taskIndex{bucket: []byte("tasks-undelivered"), key: func(t Task) []byte {
		if !t.NeedsDelivery() {
			return nil
		}
		return joinKey(t.ContainerInstanceARN, t.Cluster, t.ID)
	}}
	// indexStopped orders STOPPED tasks by the time they stopped, oldest
	// first: the pruner's work.
	indexStopped = taskIndex{bucket: []byte("tasks-stopped"), key: func(t Task) []byte {
		if t.LastStatus != TaskStopped {
			return nil
		}
		at := t.CreatedAt // only a record from before StoppedAt was set
		if t.StoppedAt != nil {
			at = *t.StoppedAt
		}
		return joinKey(timeKey(at), t.Cluster, t.ID)
	}}

	taskIndexes = []taskIndex{indexLive, indexDesired, indexUndelivered, indexStopped}
)

func joinKey(parts ...string) []byte { return []byte(strings.Join(parts, keySep)) }

// timeKey is t as 20 decimal digits of Unix nanoseconds, so that key order
// is time order; times outside 1970..2262 are clamped.
func timeKey(t time.Time) string {
	var ns int64
	switch {
	case t.Before(time.Unix(0, 0)):
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	return fmt.Sprintf("%020d", ns)
}

func taskKey(cluster, id string) []byte { return []byte(cluster + "/" + id) }

func (t boltTx) Task(cluster, id string) (Task, error) {
	return getCached(t, t.caches.tasks, bucketTasks, taskKey(cluster, id))
}

func (t boltTx) PutTask(task Task) error {
	key := taskKey(task.Cluster, task.ID)
	old, err := getCached(t, t.caches.tasks, bucketTasks, key)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := put(t.tx, bucketTasks, key, task); err != nil {
		return err
	}
	if !task.Holds() {
		// The caches keep live tasks only (decodecache.go).
		t.caches.tasks.forget(key)
		t.caches.liveTasks.forget(key)
	}
	for _, idx := range taskIndexes {
		b := t.tx.Bucket(idx.bucket)
		newKey := idx.key(task)
		newValue, err := idx.entryValue(task, newKey)
		if err != nil {
			return err
		}
		if found {
			oldKey := idx.key(old)
			if bytes.Equal(oldKey, newKey) && (newKey == nil || idx.value == nil || bytes.Equal(b.Get(newKey), newValue)) {
				continue
			}
			if oldKey != nil && !bytes.Equal(oldKey, newKey) {
				if err := b.Delete(oldKey); err != nil {
					return fmt.Errorf("index %s: %w", idx.bucket, err)
				}
			}
		}
		if newKey != nil {
			if err := b.Put(newKey, newValue); err != nil {
				return fmt.Errorf("index %s: %w", idx.bucket, err)
			}
		}
	}
	return nil
}

// entryValue is the value of task's entry under key (empty without one).
func (idx taskIndex) entryValue(task Task, key []byte) ([]byte, error) {
	if key == nil || idx.value == nil {
		return []byte{}, nil
	}
	v, err := idx.value(task)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", idx.bucket, err)
	}
	return v, nil
}

func (t boltTx) DeleteTask(cluster, id string) error {
	key := taskKey(cluster, id)
	old, err := getCached(t, t.caches.tasks, bucketTasks, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, idx := range taskIndexes {
		if k := idx.key(old); k != nil {
			if err := t.tx.Bucket(idx.bucket).Delete(k); err != nil {
				return fmt.Errorf("index %s: %w", idx.bucket, err)
			}
		}
	}
	t.caches.tasks.forget(key)
	t.caches.liveTasks.forget(key)
	return t.tx.Bucket(bucketTasks).Delete(key)
}

func (t boltTx) Tasks(cluster string) ([]Task, error) {
	var prefix []byte
	if cluster != "" {
		prefix = []byte(cluster + "/")
	}
	return list[Task](t.tx, bucketTasks, prefix)
}

// scanIndex calls fn with the parts of every key of idx that starts with
// prefix, in key order.
func (t boltTx) scanIndex(idx taskIndex, prefix []byte, fn func(parts []string) error) error {
	return t.scanIndexValues(idx, prefix, func(parts []string, _ []byte) error { return fn(parts) })
}

// scanIndexValues is scanIndex with each entry's value, valid only during
// the call.
func (t boltTx) scanIndexValues(idx taskIndex, prefix []byte, fn func(parts []string, value []byte) error) error {
	c := t.tx.Bucket(idx.bucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		parts := strings.Split(string(k), keySep)
		if len(parts) != 3 {
			return fmt.Errorf("%w: index %s has a malformed key %q", ErrCorrupt, idx.bucket, k)
		}
		if err := fn(parts, v); err != nil {
			return err
		}
	}
	return nil
}

// indexedTask reads the task an index entry names; a missing one means the
// index and the records disagree, which the one write path rules out.
func (t boltTx) indexedTask(idx taskIndex, cluster, id string) (Task, error) {
	task, err := t.Task(cluster, id)
	if errors.Is(err, ErrNotFound) {
		return task, fmt.Errorf("%w: index %s names task %s/%s, which does not exist", ErrCorrupt, idx.bucket, cluster, id)
	}
	return task, err
}

func (t boltTx) LiveTasks(cluster, instanceARN string) ([]Task, error) {
	prefix := joinKey(cluster, "")
	if instanceARN != "" {
		prefix = joinKey(cluster, instanceARN, "")
	}
	var out []Task
	err := t.scanIndex(indexLive, prefix, func(p []string) error {
		task, err := t.indexedTask(indexLive, p[0], p[2])
		if err != nil {
			return err
		}
		out = append(out, task)
		return nil
	})
	return out, err
}

func (t boltTx) TaskIDsByDesired(cluster, desired string) ([]string, error) {
	var out []string
	err := t.scanIndex(indexDesired, joinKey(cluster, desired, ""), func(p []string) error {
		out = append(out, p[2])
		return nil
	})
	return out, err
}

func (t boltTx) UndeliveredTasks(instanceARN string) ([]Task, error) {
	var prefix []byte
	if instanceARN != "" {
		prefix = joinKey(instanceARN, "")
	}
	var out []Task
	err := t.scanIndex(indexUndelivered, prefix, func(p []string) error {
		task, err := t.indexedTask(indexUndelivered, p[1], p[2])
		if err != nil {
			return err
		}
		out = append(out, task)
		return nil
	})
	return out, err
}

func (t boltTx) StoppedBefore(before time.Time, limit int) ([]TaskKey, error) {
	end := []byte(timeKey(before))
	var out []TaskKey
	c := t.tx.Bucket(indexStopped.bucket).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		parts := strings.Split(string(k), keySep)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: index %s has a malformed key %q", ErrCorrupt, indexStopped.bucket, k)
		}
		if bytes.Compare([]byte(parts[0]), end) >= 0 {
			break
		}
		out = append(out, TaskKey{Cluster: parts[1], ID: parts[2]})
	}
	return out, nil
}

// buildTaskIndexes (re)builds the given indexes from every task record:
// the migration step that introduces an index.
func buildTaskIndexes(tx *bolt.Tx, indexes ...taskIndex) error {
	buckets := make([]*bolt.Bucket, len(indexes))
	for i, idx := range indexes {
		if tx.Bucket(idx.bucket) != nil {
			if err := tx.DeleteBucket(idx.bucket); err != nil {
				return fmt.Errorf("drop index %s: %w", idx.bucket, err)
			}
		}
		b, err := tx.CreateBucket(idx.bucket)
		if err != nil {
			return fmt.Errorf("create index %s: %w", idx.bucket, err)
		}
		buckets[i] = b
	}
	tasks := tx.Bucket(bucketTasks)
	if tasks == nil {
		return nil // a new file: no tasks yet
	}
	return tasks.ForEach(func(k, raw []byte) error {
		var task Task
		if err := json.Unmarshal(raw, &task); err != nil {
			return fmt.Errorf("%w: task %s: %v", errUnreadableRecord, k, err)
		}
		for i, idx := range indexes {
			if key := idx.key(task); key != nil {
				value, err := idx.entryValue(task, key)
				if err != nil {
					return err
				}
				if err := buckets[i].Put(key, value); err != nil {
					return fmt.Errorf("index %s: %w", idx.bucket, err)
				}
			}
		}
		return nil
	})
}
