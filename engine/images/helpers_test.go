package images

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for the manager's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	rt    *enginetest.Fake
	store *statemanager.Memory
	cfg   *config.Config
	clock *clock
	logs  *syncBuffer
}

func newEnv(t *testing.T, edit func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	if edit != nil {
		edit(cfg)
	}
	return &env{rt: enginetest.NewFake(), store: statemanager.NewMemory(), cfg: cfg, clock: newClock(), logs: &syncBuffer{}}
}

func (e *env) manager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(Options{
		Runtime: e.rt, Store: e.store, Config: e.cfg, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func (m *Manager) waiters(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.flights[Normalize(name)]; f != nil {
		return f.waiters
	}
	return 0
}

var bg = context.Background()
