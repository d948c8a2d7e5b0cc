package statemanager

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Memory is an in-memory Store, used when checkpointing is off and in tests.
// It stores JSON like Bolt so that both backends behave the same.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
	closed  bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{buckets: make(map[string]map[string][]byte)}
	for _, b := range Buckets {
		m.buckets[b] = make(map[string][]byte)
	}
	return m
}

// Put implements Store.
func (m *Memory) Put(bucket, key string, v any) error {
	return m.Apply(Change{Bucket: bucket, Key: key, Value: v})
}

// PutMany implements Store.
func (m *Memory) PutMany(recs ...Record) error { return m.Apply(puts(recs)...) }

// Delete implements Store.
func (m *Memory) Delete(bucket, key string) error {
	return m.Apply(Change{Bucket: bucket, Key: key, Delete: true})
}

// Apply implements Store. Every change is encoded before the lock is
// taken, so a bad one leaves the store unchanged.
func (m *Memory) Apply(changes ...Change) error {
	enc, err := encodeAll(changes)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("write %s: %w", describe(enc), ErrClosed)
	}
	for _, e := range enc {
		if e.delete {
			delete(m.buckets[e.bucket], e.key)
		} else {
			m.buckets[e.bucket][e.key] = e.raw
		}
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(bucket, key string, v any) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	raw, ok := m.buckets[bucket][key]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("get %s/%s: %w", bucket, key, ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ForEach implements Store. It walks a copy so fn may call back into the
// store without deadlocking.
func (m *Memory) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("walk %s: %w", bucket, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	recs := make(map[string][]byte, len(m.buckets[bucket]))
	for k, v := range m.buckets[bucket] {
		recs[k] = slices.Clone(v)
	}
	m.mu.Unlock()

	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k, recs[k]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
