package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/engine"
)

// fakeTaskEngine stands in for *engine.Engine in the wiring tests.
type fakeTaskEngine struct {
	ready   chan struct{}
	changed chan struct{}
	runErr  error // returned by Run at once when set

	mu       sync.Mutex
	running  bool
	stopped  bool
	reports  []engine.TaskReport
	marked   []string
	snapshot []engine.TaskSnapshot
}

func newFakeTaskEngine() *fakeTaskEngine {
	return &fakeTaskEngine{ready: make(chan struct{}), changed: make(chan struct{}, 1)}
}

func (f *fakeTaskEngine) Run(ctx context.Context) error {
	if f.runErr != nil {
		return f.runErr
	}
	f.mu.Lock()
	f.running = true
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	return nil
}

func (f *fakeTaskEngine) Ready() <-chan struct{}          { return f.ready }
func (f *fakeTaskEngine) ReportsChanged() <-chan struct{} { return f.changed }
func (f *fakeTaskEngine) AddTask(context.Context, *wire.Task) error {
	return nil
}

func (f *fakeTaskEngine) Reports() []engine.TaskReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.TaskReport(nil), f.reports...)
}

func (f *fakeTaskEngine) MarkReported(_ context.Context, arn string, _ uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marked = append(f.marked, arn)
	f.reports = nil
	return nil
}

func (f *fakeTaskEngine) Snapshot() []engine.TaskSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.TaskSnapshot(nil), f.snapshot...)
}

func (f *fakeTaskEngine) state() (running, stopped bool, marked []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.stopped, append([]string(nil), f.marked...)
}

func withFakeEngine(h *harness, eng *fakeTaskEngine) *engineDeps {
	var got engineDeps
	h.opts.newTaskSystem = func(d engineDeps) (taskSystem, error) {
		got = d
		return taskSystem{Engine: eng}, nil
	}
	return &got
}

func TestRunWiresTheTaskEngine(t *testing.T) {
	h := newHarness(t)
	eng := newFakeTaskEngine()
	eng.reports = []engine.TaskReport{{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning}}
	eng.snapshot = []engine.TaskSnapshot{{ARN: "arn:task/1", Family: "web", Version: "1", DesiredStatus: "RUNNING", KnownStatus: "RUNNING"}}
	deps := withFakeEngine(h, eng)
	close(eng.ready)

	st, stop := h.start()
	assert.Same(t, h.cfg, deps.Config)
	assert.NotNil(t, deps.Store)
	assert.Same(t, h.opts.Runtime, deps.Runtime)
	assert.Equal(t, []uint16{22, 2375, 2376, 51678, 51679}, engineResources(deps.Resources).PortsTCP)
	assert.Equal(t, 4096, engineResources(deps.Resources).MemoryMiB)

	// The report reaches ECS and is marked reported.
	require.Eventually(t, func() bool { _, _, m := eng.state(); return len(m) == 1 }, 10*time.Second, time.Millisecond)
	stsc := h.stub.stateChanges()
	require.Len(t, stsc, 1)
	assert.Equal(t, "arn:task/1", stsc[0]["task"])
	assert.Equal(t, "default", stsc[0]["cluster"])

	// /v1/tasks comes from the engine's snapshot.
	resp, err := http.Get("http://" + st.IntrospectionAddr + "/v1/tasks")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `{"Tasks":[{"Arn":"arn:task/1","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"web","Version":"1","Containers":[]}]}`, string(body))

	// Capabilities are registered with the engine.
	attrs := attrNames(h.stub.registrations()[0])
	assert.Contains(t, attrs, "ecs.capability.container-ordering")
	assert.Contains(t, attrs, "com.amazonaws.ecs.capability.privileged-container")
	assert.Contains(t, attrs, "com.amazonaws.ecs.capability.logging-driver.json-file")

	require.NoError(t, stop())
	_, stopped, _ := eng.state()
	assert.True(t, stopped, "the engine was stopped before Run returned")
}

func TestRunWaitsForTheEngineToBeReady(t *testing.T) {
	h := newHarness(t)
	eng := newFakeTaskEngine()
	withFakeEngine(h, eng)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts := h.opts
	opts.IMDS = h.imds
	ready := make(chan struct{})
	opts.OnReady = func(Status) { close(ready) }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.cfg, opts) }()

	require.Eventually(t, func() bool { r, _, _ := eng.state(); return r }, 10*time.Second, time.Millisecond)
	select {
	case <-ready:
		t.Fatal("ready before the engine was")
	default:
	}
	assert.Zero(t, h.stub.dpeCalls(), "no ACS session before the engine is ready")
	close(eng.ready)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after the engine was")
	}
	cancel()
	require.NoError(t, <-done)
}

func TestRunEngineFailureBeforeReady(t *testing.T) {
	h := newHarness(t)
	eng := newFakeTaskEngine()
	eng.runErr = errors.New("agent.db: tasks bucket unreadable")
	withFakeEngine(h, eng)
	err := h.runErr()
	require.ErrorContains(t, err, "tasks bucket unreadable")
}

func TestRunCancelWhileTheEngineLoadsIsCleanStop(t *testing.T) {
	h := newHarness(t)
	eng := newFakeTaskEngine() // never ready
	withFakeEngine(h, eng)
	ctx, cancel := context.WithCancel(t.Context())
	opts := h.opts
	opts.IMDS = h.imds
	opts.OnReady = func(Status) { t.Error("ready without an engine") }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.cfg, opts) }()
	require.Eventually(t, func() bool { r, _, _ := eng.state(); return r }, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	_, stopped, _ := eng.state()
	assert.True(t, stopped)
}
