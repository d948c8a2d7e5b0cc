package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSupervisorStopsInReverseOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	sup := newSupervisor(ctx, discard)
	var mu sync.Mutex
	var stopped []string
	for _, name := range []string{"first", "second", "third"} {
		sup.start(name, func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		})
	}
	cancel()
	require.NoError(t, sup.wait())
	sup.stop(5 * time.Second)
	// All contexts derive from the parent, so on a parent cancel they may
	// stop in any order; an explicit stop must be reverse order.
	assert.Len(t, stopped, 3)

	sup = newSupervisor(t.Context(), discard)
	stopped = nil
	for _, name := range []string{"first", "second", "third"} {
		sup.start(name, func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		})
	}
	sup.stop(5 * time.Second)
	assert.Equal(t, []string{"third", "second", "first"}, stopped)
}

func TestSupervisorReportsFirstFailure(t *testing.T) {
	sup := newSupervisor(t.Context(), discard)
	boom := errors.New("boom")
	sup.start("steady", func(ctx context.Context) error { <-ctx.Done(); return nil })
	sup.start("broken", func(context.Context) error { return boom })
	err := sup.wait()
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "broken")
	sup.stop(5 * time.Second)
}

func TestSupervisorUnexpectedReturn(t *testing.T) {
	sup := newSupervisor(t.Context(), discard)
	sup.start("quitter", func(context.Context) error { return nil })
	require.ErrorContains(t, sup.wait(), "quitter stopped unexpectedly")
	sup.stop(5 * time.Second)
}
