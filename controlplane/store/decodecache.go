package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// decodeCache remembers the decoded form of the records read most often,
// container instances and tasks, keyed by their bucket key and checked
// against their bytes. Placement reads every instance and live task of a
// cluster inside the write transaction on every RunTask and every service
// round; decoding their JSON was most of that work (about 45 µs for an
// instance that carries its attributes), while comparing the stored bytes
// with the remembered ones and copying the remembered value costs a few
// microseconds.
//
// Because an entry is used only when the bytes are equal, the cache can
// never answer with anything but what decoding those bytes would give: it
// needs no invalidation, and it is right in every transaction, committed,
// rolled back or concurrent. Each answer is a deep copy (clone), so a
// caller may change what it got, as Tx promises.
type decodeCache[T any] struct {
	clone func(T) T
	// keep says whether a value is worth remembering (nil: all are).
	keep  func(T) bool
	limit int

	mu      sync.Mutex
	entries map[string]decoded[T]
}

type decoded[T any] struct {
	raw   []byte
	value T
}

func newDecodeCache[T any](limit int, clone func(T) T) *decodeCache[T] {
	return &decodeCache[T]{clone: clone, limit: limit, entries: map[string]decoded[T]{}}
}

// decode returns what json.Unmarshal of raw gives, from the cache when the
// record under key still has these bytes.
func (c *decodeCache[T]) decode(bucket, key, raw []byte) (T, error) {
	return c.decodeFor(bucket, key, raw, false)
}

// decodeShared is decode for a caller that only reads the value: a cached
// value comes without a copy, sharing its slices and pointers with the
// cache's entry, which nothing may change.
func (c *decodeCache[T]) decodeShared(bucket, key, raw []byte) (T, error) {
	return c.decodeFor(bucket, key, raw, true)
}

func (c *decodeCache[T]) decodeFor(bucket, key, raw []byte, shared bool) (T, error) {
	c.mu.Lock()
	e, ok := c.entries[string(key)]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		if shared {
			return e.value, nil
		}
		return c.clone(e.value), nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	if c.keep != nil && !c.keep(v) {
		c.forget(key)
		return v, nil
	}
	c.mu.Lock()
	if len(c.entries) >= c.limit {
		// Forget an arbitrary half: the records read again soon come
		// back at the cost of one decode each.
		n := 0
		for k := range c.entries {
			if n >= c.limit/2 {
				break
			}
			delete(c.entries, k)
			n++
		}
	}
	// bbolt's bytes live only as long as the transaction: keep a copy.
	c.entries[string(key)] = decoded[T]{raw: bytes.Clone(raw), value: c.clone(v)}
	c.mu.Unlock()
	return v, nil
}

// forget drops key's entry, for a record deleted or no longer read often.
func (c *decodeCache[T]) forget(key []byte) {
	c.mu.Lock()
	delete(c.entries, string(key))
	c.mu.Unlock()
}

// Cache sizes: every instance of a large fleet, and the live tasks of a
// busy one, with room for the tasks read by DescribeTasks. An instance
// entry is about 6 KiB (its bytes and its decoded form), a task's 3 KiB.
const (
	instanceCacheLimit = 10_000
	taskCacheLimit     = 20_000
	// A service entry grows with its events and tasks (10–30 KiB); the
	// service rounds read every service of a cluster several times each.
	serviceCacheLimit = 2_000
)

// decodeCaches are a Bolt's caches.
type decodeCaches struct {
	instances *decodeCache[ContainerInstance]
	tasks     *decodeCache[Task]
	liveTasks *decodeCache[LiveTask] // the same records as tasks, decoded in part
	services  *decodeCache[Service]
}

func newDecodeCaches() *decodeCaches {
	return &decodeCaches{
		instances: newDecodeCache(instanceCacheLimit, ContainerInstance.Clone),
		tasks:     keeping(newDecodeCache(taskCacheLimit, Task.Clone), func(t Task) bool { return t.Holds() }),
		liveTasks: keeping(newDecodeCache(liveTaskCacheLimit, LiveTask.Clone), func(t LiveTask) bool { return t.LastStatus != TaskStopped }),
		services:  keeping(newDecodeCache(serviceCacheLimit, Service.Clone), func(s Service) bool { return s.Status != ServiceInactive }),
	}
}

// keeping makes c remember only the values keep accepts. The caches keep
// tasks that are not STOPPED, the ones placement reads again and again: a
// stopped task is history, read now and then by DescribeTasks, and would
// only fill the cache.
func keeping[T any](c *decodeCache[T], keep func(T) bool) *decodeCache[T] {
	c.keep = keep
	return c
}

// getCached is get for a bucket with a decode cache.
func getCached[T any](tx boltTx, c *decodeCache[T], bucket, key []byte) (T, error) {
	raw := tx.tx.Bucket(bucket).Get(key)
	if raw == nil {
		var zero T
		return zero, ErrNotFound
	}
	return c.decode(bucket, key, raw)
}

// listCached is list for a bucket with a decode cache; shared values are
// decodeShared's.
func listCached[T any](tx boltTx, c *decodeCache[T], bucket, prefix []byte, shared bool) ([]T, error) {
	var out []T
	cur := tx.tx.Bucket(bucket).Cursor()
	for k, raw := cur.Seek(prefix); k != nil && hasPrefix(k, prefix); k, raw = cur.Next() {
		v, err := c.decodeFor(bucket, k, raw, shared)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
