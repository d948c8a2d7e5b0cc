package enginetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// LabelTest marks everything the suite creates, so that leftovers of a
// crashed run can be found: docker ps -a --filter label=ecs-agent-test.
const LabelTest = "ecs-agent-test"

// waitTimeout bounds every wait for a container or an event; real Docker
// needs a few seconds for a health check on a busy machine.
const waitTimeout = 30 * time.Second

// RunConformance checks that a runtime behaves as the engine relies on.
// newRuntime is called once per subtest.
func RunConformance(t *testing.T, newRuntime func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Lifecycle", testLifecycle},
		{"RestartExited", testRestartExited},
		{"StopRunning", testStopRunning},
		{"StopEscalatesToKill", testStopEscalates},
		{"StopNeverStarted", testStopNeverStarted},
		{"StartFailsOnTakenHostPort", testStartPortTaken},
		{"StartErrorField", testStartError},
		{"OOMKilled", testOOMKilled},
		{"NameConflict", testNameConflict},
		{"NotFound", testNotFound},
		{"Events", testEvents},
		{"EventsEndWithContext", testEventsEnd},
		{"EventsEndWithError", testEventsBreak},
		{"HealthEvents", testHealthEvents},
		{"LabelsAndList", testLabelsAndList},
		{"PortBindings", testPortBindings},
		{"Volumes", testVolumes},
		{"PullMissingImage", testPullMissing},
		{"PullWithProgress", testPullProgress},
		{"PullAuthFailure", testPullAuth},
		{"PullInactive", testPullInactive},
		{"InspectImage", testInspectImage},
		{"RemoveImageInUse", testRemoveImageInUse},
		{"RemoveRunning", testRemoveRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRuntime(t)
			tc.fn(t, &suite{h: h, rt: h.Runtime, prefix: "ecs-agent-conformance-" + randHex(4) + "-"})
		})
	}
}

type suite struct {
	h      Harness
	rt     runtime.Runtime
	prefix string
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cleanupCtx is for t.Cleanup, when t.Context is already cancelled.
func cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// config builds a Docker container.Config JSON object for a container
// whose process behaves as p.
func (s *suite) config(t *testing.T, p Program, labels map[string]string, extra map[string]any) map[string]any {
	t.Helper()
	image, cmd := s.h.Container(t, p)
	l := map[string]string{LabelTest: "conformance"}
	for k, v := range labels {
		l[k] = v
	}
	cfg := map[string]any{"Image": image, "Labels": l}
	if cmd != nil {
		cfg["Cmd"] = cmd
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

// create creates a container named prefix+name and removes it at cleanup.
func (s *suite) create(t *testing.T, name string, cfg, hostCfg map[string]any) string {
	t.Helper()
	spec := runtime.CreateSpec{Name: s.prefix + name, Config: mustJSON(t, cfg)}
	if hostCfg != nil {
		spec.HostConfig = mustJSON(t, hostCfg)
	}
	id, err := s.rt.CreateContainer(t.Context(), spec)
	require.NoError(t, err, "create %s", spec.Name)
	require.NotEmpty(t, id)
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		if err := s.rt.RemoveContainer(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: remove container %s: %v", spec.Name, err)
		}
	})
	return id
}

// waitState polls inspect until the container reaches state.
func (s *suite) waitState(t *testing.T, id, state string) runtime.Container {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := s.rt.InspectContainer(t.Context(), id)
		require.NoError(t, err)
		if c.State == state {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %q after %s, want %q", id, c.State, waitTimeout, state)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// events subscribes and returns a function that waits for the next event
// of container id matching ok, skipping others.
func (s *suite) events(t *testing.T) func(id string, ok func(runtime.Event) bool) runtime.Event {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	evc, errc := s.rt.Events(ctx)
	return func(id string, ok func(runtime.Event) bool) runtime.Event {
		t.Helper()
		timeout := time.After(waitTimeout)
		for {
			select {
			case ev, open := <-evc:
				if !open {
					t.Fatalf("event stream closed: %v", <-errc)
				}
				if ev.ContainerID == id && ok(ev) {
					return ev
				}
			case <-timeout:
				t.Fatalf("no matching event for %s within %s", id, waitTimeout)
			}
		}
	}
}

func exits(code int) Program { return Program{Exits: true, ExitCode: code} }

func action(a string) func(runtime.Event) bool {
	return func(ev runtime.Event) bool { return ev.Action == a }
}

func testLifecycle(t *testing.T, s *suite) {
	before := time.Now().Add(-2 * time.Second) // engine clocks may be coarse
	cfg := s.config(t, exits(3), nil, nil)
	id := s.create(t, "life", cfg, nil)

	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, id, c.ID)
	assert.Equal(t, s.prefix+"life", c.Name)
	assert.Equal(t, cfg["Image"], c.Image)
	assert.NotEmpty(t, c.ImageID)
	assert.Equal(t, runtime.StateCreated, c.State)
	assert.True(t, c.CreatedAt.After(before), "CreatedAt %s", c.CreatedAt)
	assert.True(t, c.StartedAt.IsZero(), "StartedAt of a created container is zero, got %s", c.StartedAt)
	assert.True(t, c.FinishedAt.IsZero(), "FinishedAt of a created container is zero, got %s", c.FinishedAt)

	byName, err := s.rt.InspectContainer(t.Context(), s.prefix+"life")
	require.NoError(t, err, "inspect by name")
	assert.Equal(t, id, byName.ID)

	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	c = s.waitState(t, id, runtime.StateExited)
	assert.Equal(t, 3, c.ExitCode)
	assert.False(t, c.StartedAt.IsZero())
	assert.False(t, c.FinishedAt.IsZero())
	// Docker stamps StartedAt once containerd reports the start, and
	// FinishedAt with containerd's own exit time: a process that exits at
	// once can finish a few milliseconds "before" it started (2.3 ms seen
	// with Docker 20.10). More than that would be a wrong field.
	assert.False(t, c.FinishedAt.Before(c.StartedAt.Add(-time.Second)), "finished %s before started %s", c.FinishedAt, c.StartedAt)
	assert.False(t, c.OOMKilled, "an ordinary exit is not an OOM kill")
	assert.Empty(t, c.Error, "an ordinary exit is not an engine error")
}

func testStopRunning(t *testing.T, s *suite) {
	next := s.events(t)
	// Docker's init as PID 1: a shell that is PID 1 ignores SIGTERM until
	// its trap is set, so on a busy host a stop sent right after the start
	// ended in SIGKILL (137). Under init the shell dies of SIGTERM either
	// way. The fake ignores the setting.
	id := s.create(t, "stop", s.config(t, Program{}, nil, nil), map[string]any{"Init": true})
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateRunning, c.State)
	assert.False(t, c.StartedAt.IsZero())

	require.NoError(t, s.rt.StopContainer(t.Context(), id, 10*time.Second))
	c, err = s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateExited, c.State)
	assert.Equal(t, 143, c.ExitCode, "the command exits 143 on SIGTERM")
	assert.False(t, c.FinishedAt.IsZero())
	ev := next(id, action(runtime.EventDie))
	require.NotNil(t, ev.ExitCode)
	assert.Equal(t, 143, *ev.ExitCode)
	next(id, action(runtime.EventStop))

	require.NoError(t, s.rt.StopContainer(t.Context(), id, time.Second), "stopping a stopped container")
}

func testStopEscalates(t *testing.T, s *suite) {
	id := s.create(t, "kill", s.config(t, Program{IgnoreTerm: true}, nil, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	require.NoError(t, s.rt.StopContainer(t.Context(), id, time.Second))
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateExited, c.State)
	assert.Equal(t, 137, c.ExitCode, "SIGKILL after the timeout")
}

func testNameConflict(t *testing.T, s *suite) {
	s.create(t, "dup", s.config(t, exits(0), nil, nil), nil)
	_, err := s.rt.CreateContainer(t.Context(), runtime.CreateSpec{
		Name: s.prefix + "dup", Config: mustJSON(t, s.config(t, exits(0), nil, nil)),
	})
	require.ErrorIs(t, err, runtime.ErrConflict)
	assert.Contains(t, err.Error(), s.prefix+"dup")
}

func testNotFound(t *testing.T, s *suite) {
	ctx := t.Context()
	missing := s.prefix + "missing"
	_, err := s.rt.InspectContainer(ctx, missing)
	require.ErrorIs(t, err, runtime.ErrNotFound)
	require.ErrorIs(t, s.rt.RemoveContainer(ctx, missing), runtime.ErrNotFound)
	require.ErrorIs(t, s.rt.StartContainer(ctx, missing), runtime.ErrNotFound)
	_, err = s.rt.InspectImage(ctx, "ecs-agent-test/missing:"+randHex(4))
	require.ErrorIs(t, err, runtime.ErrNotFound)
	require.ErrorIs(t, s.rt.RemoveImage(ctx, "ecs-agent-test/missing:"+randHex(4)), runtime.ErrNotFound)
	_, err = s.rt.InspectVolume(ctx, missing)
	require.ErrorIs(t, err, runtime.ErrNotFound)
	require.ErrorIs(t, s.rt.RemoveVolume(ctx, missing), runtime.ErrNotFound)

	_, err = s.rt.CreateContainer(ctx, runtime.CreateSpec{
		Name:   s.prefix + "noimage",
		Config: mustJSON(t, map[string]any{"Image": "ecs-agent-test/missing:" + randHex(4)}),
	})
	require.ErrorIs(t, err, runtime.ErrNotFound, "create from an image that is not local")
}

func testEvents(t *testing.T, s *suite) {
	next := s.events(t)
	id := s.create(t, "events", s.config(t, exits(7), map[string]string{"app": "ev"}, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))

	ev := next(id, func(runtime.Event) bool { return true })
	assert.Equal(t, runtime.EventCreate, ev.Action, "the first event is create")
	assert.Equal(t, "ev", ev.Labels["app"], "events carry the container's labels")
	assert.False(t, ev.Time.IsZero())
	ev = next(id, func(ev runtime.Event) bool { return ev.Action != runtime.EventCreate })
	assert.Equal(t, runtime.EventStart, ev.Action, "start follows create")
	ev = next(id, action(runtime.EventDie))
	require.NotNil(t, ev.ExitCode, "die carries the exit code")
	assert.Equal(t, 7, *ev.ExitCode)

	require.NoError(t, s.rt.RemoveContainer(t.Context(), id))
	next(id, action(runtime.EventDestroy))
}

func testHealthEvents(t *testing.T, s *suite) {
	next := s.events(t)
	hc := map[string]any{
		"Test": s.h.HealthyTest, "Interval": int64(500 * time.Millisecond),
		"Timeout": int64(5 * time.Second), "Retries": 3,
	}
	id := s.create(t, "health", s.config(t, Program{Health: runtime.HealthHealthy}, nil, map[string]any{"Healthcheck": hc}), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	ev := next(id, action(runtime.EventHealth))
	assert.Equal(t, runtime.HealthHealthy, ev.Health)
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.HealthHealthy, c.Health)

	require.NoError(t, s.rt.StopContainer(t.Context(), id, 10*time.Second))
	c, err = s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, runtime.HealthUnhealthy, c.Health, "a stopped container is unhealthy")

	plain := s.create(t, "nohealth", s.config(t, Program{}, nil, nil), nil)
	c, err = s.rt.InspectContainer(t.Context(), plain)
	require.NoError(t, err)
	assert.Empty(t, c.Health, "no health check, no health status")
}

func testLabelsAndList(t *testing.T, s *suite) {
	run := randHex(6)
	a := s.create(t, "list-a", s.config(t, exits(0), map[string]string{"run": run, "role": "a"}, nil), nil)
	b := s.create(t, "list-b", s.config(t, Program{}, map[string]string{"run": run, "role": "b"}, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), b))

	ids := func(labels map[string]string) []string {
		list, err := s.rt.ListContainers(t.Context(), labels)
		require.NoError(t, err)
		var out []string
		for _, c := range list {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	both := []string{a, b}
	slices.Sort(both)
	assert.Equal(t, both, ids(map[string]string{"run": run}), "created and running containers are listed")
	assert.Equal(t, []string{a}, ids(map[string]string{"run": run, "role": "a"}))
	assert.Equal(t, both, ids(map[string]string{"run": run, "role": ""}), "an empty value matches any value")
	assert.Empty(t, ids(map[string]string{"run": run, "role": "c"}))

	list, err := s.rt.ListContainers(t.Context(), map[string]string{"run": run, "role": "b"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, s.prefix+"list-b", list[0].Name)
	assert.Equal(t, runtime.StateRunning, list[0].State)
	assert.Equal(t, "b", list[0].Labels["role"])

	c, err := s.rt.InspectContainer(t.Context(), a)
	require.NoError(t, err)
	assert.Equal(t, run, c.Labels["run"])
}

func testPortBindings(t *testing.T, s *suite) {
	cfg := s.config(t, Program{}, nil, map[string]any{"ExposedPorts": map[string]any{"80/tcp": map[string]any{}, "53/udp": map[string]any{}}})
	host := map[string]any{"PortBindings": map[string]any{
		"80/tcp": []map[string]string{{"HostPort": "0"}},
		"53/udp": []map[string]string{{"HostPort": ""}},
	}}
	id := s.create(t, "ports", cfg, host)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)
	find := func(port uint16, proto string) *runtime.PortBinding {
		for _, p := range c.Ports {
			if p.ContainerPort == port && p.Protocol == proto {
				return &p
			}
		}
		return nil
	}
	for _, want := range []struct {
		port  uint16
		proto string
	}{{80, "tcp"}, {53, "udp"}} {
		p := find(want.port, want.proto)
		if assert.NotNil(t, p, "binding for %d/%s in %+v", want.port, want.proto, c.Ports) {
			assert.NotZero(t, p.HostPort, "hostPort 0 gets an assigned port")
		}
	}
}

func testRemoveRunning(t *testing.T, s *suite) {
	id := s.create(t, "rm", s.config(t, Program{}, nil, nil), nil)
	require.NoError(t, s.rt.StartContainer(t.Context(), id))
	require.NoError(t, s.rt.RemoveContainer(t.Context(), id))
	_, err := s.rt.InspectContainer(t.Context(), id)
	require.ErrorIs(t, err, runtime.ErrNotFound)
	require.ErrorIs(t, s.rt.RemoveContainer(t.Context(), id), runtime.ErrNotFound)
}

func testEventsEnd(t *testing.T, s *suite) {
	ctx, cancel := context.WithCancel(t.Context())
	evc, errc := s.rt.Events(ctx)
	cancel()
	deadline := time.After(waitTimeout)
	for open := true; open; {
		select {
		case _, open = <-evc:
		case <-deadline:
			t.Fatal("the event channel stays open after the context ended")
		}
	}
	select {
	case err := <-errc:
		require.NoError(t, err, "a cancelled context is not a stream error")
	case <-deadline:
		t.Fatal("no value on the error channel after the context ended")
	}
	_, open := <-errc
	assert.False(t, open, "the error channel is closed")
}
