package images

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/statemanager"
)

// gatedStore is a store whose writes can be held, like a slow fsync, and
// which records writes made after Close.
type gatedStore struct {
	statemanager.Store
	mu          sync.Mutex
	gate        chan struct{} // non-nil: writes wait for it
	closed      bool
	lateWrites  []string
	writesBegun int
}

func (s *gatedStore) write(what string) {
	s.mu.Lock()
	gate := s.gate
	s.writesBegun++
	if s.closed {
		s.lateWrites = append(s.lateWrites, what)
	}
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (s *gatedStore) Put(bucket, key string, v any) error {
	s.write("put " + key)
	return s.Store.Put(bucket, key, v)
}

func (s *gatedStore) PutMany(recs ...statemanager.Record) error {
	s.write("put many")
	return s.Store.PutMany(recs...)
}

func (s *gatedStore) Delete(bucket, key string) error {
	s.write("delete " + key)
	return s.Store.Delete(bucket, key)
}

func (s *gatedStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.Store.Close()
}

func (s *gatedStore) hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate := make(chan struct{})
	s.gate = gate
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gate == gate {
			s.gate = nil
			close(gate)
		}
	}
}

func (s *gatedStore) late() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lateWrites...)
}

func (s *gatedStore) begun() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writesBegun
}

func gatedManager(t *testing.T, e *env) (*Manager, *gatedStore) {
	t.Helper()
	gs := &gatedStore{Store: e.store}
	m, err := New(Options{Runtime: e.rt, Store: gs, Config: e.cfg, Now: e.clock.Now})
	require.NoError(t, err)
	return m, gs
}

// TestSlowWritesDoNotBlockTheManager: the manager's state writes are
// fsynced; they must not happen under its lock, or every Use, Release and
// Pull of every task waits for one disk write. (Not in a synctest bubble: a
// goroutine blocked on a mutex is not durably blocked, so the bubble could
// not tell "waiting for the lock" from "still running".)
func TestSlowWritesDoNotBlockTheManager(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.SetRegistryImage("a:1", nil)
	e.rt.SetRegistryImage("b:1", nil)
	m, gs := gatedManager(t, e)
	_, err := m.Pull(bg, "a:1", "task/c")
	require.NoError(t, err)
	_, err = m.Pull(bg, "b:1", "task/c")
	require.NoError(t, err)
	before := gs.begun()

	release := gs.hold()
	defer release()
	used := make(chan struct{})
	go func() {
		defer close(used)
		m.Use("a:1", "task1/web") // its write hangs on the disk
	}()
	waitFor(t, "Use to start writing the image state", func() bool { return gs.begun() > before })

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.States()
		m.Use("b:1", "task2/db") // marks its own record, which the writer in progress takes
		_, _ = m.Pull(bg, "b:1", "task/c")
		m.Cleanup(bg)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading the manager's state waited for another caller's disk write")
	}
	release()
	<-used
	// The writer in progress wrote the records marked meanwhile too.
	for _, st := range m.States() {
		var s ImageState
		require.NoError(t, e.store.Get(statemanager.BucketImages, st.ImageID, &s))
		assert.Equal(t, st, s, "the stored state of %v is the newest", st.Names)
	}
}

// TestShutdownWaitsForPullsAndStopsThem: a pull runs in its own goroutine;
// when Run ends (the agent shuts down, and then closes the store) the pull
// must be cancelled and finished, so it cannot write to the closed store.
func TestShutdownWaitsForPullsAndStopsThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.rt.SetRegistryImage("a:1", nil)
		m, gs := gatedManager(t, e)
		ctx, cancel := context.WithCancel(bg)
		ran := make(chan error, 1)
		go func() { ran <- m.Run(ctx) }()

		releasePull := e.rt.BlockPulls()
		defer releasePull()
		pulled := make(chan error, 1)
		go func() {
			_, err := m.Pull(bg, "a:1", "task/c") // the caller does not give up
			pulled <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, e.rt.PullsWaiting())

		cancel()
		require.NoError(t, <-ran)
		require.NoError(t, gs.Close(), "the agent closes the store once the manager has stopped")
		releasePull() // the registry answers after all
		synctest.Wait()

		assert.Empty(t, gs.late(), "the pull wrote to the store after shutdown closed it")
		err := <-pulled
		require.Error(t, err, "a pull cut short by shutdown fails")
		assert.True(t, errors.Is(err, context.Canceled) || errors.Is(err, ErrStopped), "got %v", err)

		_, err = m.Pull(bg, "a:1", "task/c")
		require.ErrorIs(t, err, ErrStopped, "a stopped manager starts no pull")
		e.cfg.ImagePullBehavior = BehaviorPreferCached
		e.rt.SetImage("cached:1")
		_, err = m.Pull(bg, "cached:1", "task/d")
		require.ErrorIs(t, err, ErrStopped, "nor uses a cached image, which would write its state")
		assert.Empty(t, gs.late())
	})
}
