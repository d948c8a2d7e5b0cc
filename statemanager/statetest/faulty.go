// Package statetest holds a statemanager.Store that fails on demand, for
// tests of what the agent does when a write does not reach the disk: a full
// disk, an I/O error, or the process killed right after a given write.
package statetest

import (
	"sync"

	"github.com/open-ecs/ecs-agent/statemanager"
)

// Faulty wraps a Store. Reads always pass through; writes (each Put,
// PutMany, Delete or Apply is one transaction) pass through until
// FailAfter's budget is spent, then fail with its error until Heal.
type Faulty struct {
	statemanager.Store

	mu     sync.Mutex
	left   int // writes still allowed; -1: unlimited
	err    error
	failed int
}

var _ statemanager.Store = (*Faulty)(nil)

// NewFaulty wraps s; it fails nothing until FailAfter.
func NewFaulty(s statemanager.Store) *Faulty { return &Faulty{Store: s, left: -1} }

// FailAfter lets n more writes through and fails every later one with err.
func (f *Faulty) FailAfter(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left, f.err = n, err
}

// Heal lets every write through again.
func (f *Faulty) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left, f.err = -1, nil
}

// Failed returns how many writes failed so far.
func (f *Faulty) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *Faulty) write() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.left {
	case -1:
		return nil
	case 0:
		f.failed++
		return f.err
	}
	f.left--
	return nil
}

// Put implements statemanager.Store.
func (f *Faulty) Put(bucket, key string, v any) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Put(bucket, key, v)
}

// PutMany implements statemanager.Store.
func (f *Faulty) PutMany(recs ...statemanager.Record) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.PutMany(recs...)
}

// Delete implements statemanager.Store.
func (f *Faulty) Delete(bucket, key string) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Delete(bucket, key)
}

// Apply implements statemanager.Store.
func (f *Faulty) Apply(changes ...statemanager.Change) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Apply(changes...)
}
