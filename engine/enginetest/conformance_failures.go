package enginetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// The tests in this file pin down what the engine sees when things do not
// go as planned: restarts, stops of containers that never ran, starts that
// fail, the kernel's OOM killer and a broken event stream.

func testRestartExited(t *testing.T, s *suite) {
	next := s.events(t)
	id := s.create(t, "again", s.config(t, exits(3), nil, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	next(id, action(runtime.EventDie))
	first := s.waitState(t, id, runtime.StateExited)

	require.NoError(t, s.rt.StartContainer(t.Context(), id), "an exited container starts again")
	next(id, action(runtime.EventStart))
	ev := next(id, action(runtime.EventDie))
	require.NotNil(t, ev.ExitCode)
	assert.Equal(t, 3, *ev.ExitCode)
	second := s.waitState(t, id, runtime.StateExited)
	assert.Equal(t, 3, second.ExitCode)
	assert.False(t, second.StartedAt.Before(first.FinishedAt), "started again at %s, before the first run ended at %s",
		second.StartedAt, first.FinishedAt)

	// A container stopped by SIGTERM starts again too, and runs.
	run := s.create(t, "again-run", s.config(t, Program{}, nil, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), run))
	require.NoError(t, s.rt.StopContainer(t.Context(), run, 10*time.Second))
	require.NoError(t, s.rt.StartContainer(t.Context(), run))
	c := s.waitState(t, run, runtime.StateRunning)
	assert.True(t, c.FinishedAt.IsZero() || !c.FinishedAt.After(c.StartedAt), "a running container has not finished since it started")
}

func testStopNeverStarted(t *testing.T, s *suite) {
	next := s.events(t)
	id := s.create(t, "never", s.config(t, Program{}, nil, nil), nil)
	require.NoError(t, s.rt.StopContainer(t.Context(), id, time.Second), "stopping a container that never started")
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateCreated, c.State, "it stays created")
	assert.Zero(t, c.ExitCode)
	assert.True(t, c.StartedAt.IsZero())
	assert.True(t, c.FinishedAt.IsZero())

	// Nothing happened to it: the next event after create is its removal.
	require.NoError(t, s.rt.RemoveContainer(t.Context(), id))
	ev := next(id, func(ev runtime.Event) bool { return ev.Action != runtime.EventCreate })
	assert.Equal(t, runtime.EventDestroy, ev.Action, "no kill, stop or die for a container that never ran")
}

func testStartPortTaken(t *testing.T, s *suite) {
	port := s.h.TakePort(t)
	cfg := s.config(t, Program{}, nil, map[string]any{"ExposedPorts": map[string]any{"80/tcp": map[string]any{}}})
	host := map[string]any{"PortBindings": map[string]any{
		"80/tcp": []map[string]string{{"HostPort": strconv.Itoa(int(port))}},
	}}
	id := s.create(t, "taken", cfg, host)
	err := s.rt.StartContainer(t.Context(), id)
	require.Error(t, err, "host port %d is taken", port)
	assert.Contains(t, err.Error(), strconv.Itoa(int(port)), "the error names the port")

	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateCreated, c.State, "a failed start leaves the container created")
	assert.Contains(t, c.Error, strconv.Itoa(int(port)), "State.Error names the port")
	assert.True(t, c.StartedAt.IsZero(), "it never started")
	assert.Empty(t, c.Ports)
}

func testStartError(t *testing.T, s *suite) {
	id := s.create(t, "noexec", s.config(t, Program{StartFails: true}, nil, nil), nil)
	err := s.rt.StartContainer(t.Context(), id)
	require.Error(t, err)
	assert.NotErrorIs(t, err, runtime.ErrNotFound, "the container exists; its program does not")

	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateCreated, c.State)
	assert.Equal(t, 127, c.ExitCode, "the shell's code for a command not found")
	assert.NotEmpty(t, c.Error, "State.Error says why the start failed")
	assert.True(t, c.StartedAt.IsZero())
	assert.False(t, c.OOMKilled)
}

func testOOMKilled(t *testing.T, s *suite) {
	next := s.events(t)
	const limit = 8 << 20 // Docker's minimum is 6 MiB
	id := s.create(t, "oom", s.config(t, Program{OOM: true}, nil, nil),
		map[string]any{"Memory": limit, "MemorySwap": limit})
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	next(id, action(runtime.EventOOM))
	ev := next(id, action(runtime.EventDie))
	require.NotNil(t, ev.ExitCode)
	assert.Equal(t, 137, *ev.ExitCode, "killed by SIGKILL")

	c := s.waitState(t, id, runtime.StateExited)
	assert.True(t, c.OOMKilled, "State.OOMKilled")
	assert.Equal(t, 137, c.ExitCode)
	assert.Empty(t, c.Error, "an OOM kill is not an engine error")
}

func testEventsBreak(t *testing.T, s *suite) {
	if s.h.BreakEvents == nil {
		t.Skip("the harness cannot break the event stream")
	}
	evc, errc := s.rt.Events(t.Context())
	// The stream is live once it delivers an event.
	id := s.create(t, "before-break", s.config(t, exits(0), nil, nil), nil)
	timeout := time.After(waitTimeout)
	for live := false; !live; {
		select {
		case ev, open := <-evc:
			if !open {
				t.Fatalf("the stream ended before the break: %v", <-errc)
			}
			live = ev.ContainerID == id
		case <-timeout:
			t.Fatalf("no create event for %s within %s", id, waitTimeout)
		}
	}

	s.h.BreakEvents(t)
	for open := true; open; {
		select {
		case _, open = <-evc:
		case <-timeout:
			t.Fatal("the event channel stays open after the stream broke")
		}
	}
	select {
	case err := <-errc:
		require.Error(t, err, "a broken stream ends with an error")
	case <-timeout:
		t.Fatal("no error after the stream broke")
	}
	_, open := <-errc
	assert.False(t, open, "the error channel is closed after its one error")

	// A new stream works: callers reconnect (and relist).
	next := s.events(t)
	again := s.create(t, "after-break", s.config(t, exits(0), nil, nil), nil)
	next(again, action(runtime.EventCreate))
}
