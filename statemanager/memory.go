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

// GetMetadata implements Store.
func (m *Memory) GetMetadata(key string) (string, error) {
	var v string
	if err := m.Get(BucketMetadata, key, &v); err != nil {
		return "", err
	}
	return v, nil
}

// PutMetadata implements Store.
func (m *Memory) PutMetadata(key, value string) error {
	return m.Put(BucketMetadata, key, value)
}

// PutMetadataMap implements Store.
func (m *Memory) PutMetadataMap(kv map[string]string) error {
	enc := make(map[string][]byte, len(kv))
	for k, v := range kv {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode metadata %q: %w", k, err)
		}
		enc[k] = raw
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for k, raw := range enc {
		m.buckets[BucketMetadata][k] = raw
	}
	return nil
}

// Put implements Store.
func (m *Memory) Put(bucket, key string, v any) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.buckets[bucket][key] = raw
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

// Delete implements Store.
func (m *Memory) Delete(bucket, key string) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.buckets[bucket], key)
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
