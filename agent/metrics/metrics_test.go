package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// scrape returns the exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

func TestDockerCallsAreTimedAndFailuresCounted(t *testing.T) {
	m := New()
	f := enginetest.NewFake()
	rt := m.Runtime(f)
	_, err := rt.InspectContainer(t.Context(), "missing")
	require.ErrorIs(t, err, runtime.ErrNotFound)
	f.FailNext("ListContainers", errors.New("docker is down"))
	_, err = rt.ListContainers(t.Context(), nil)
	require.Error(t, err)
	_, err = rt.ListContainers(t.Context(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _ = rt.InspectImage(ctx, "busybox")

	out := scrape(t, m)
	assert.Contains(t, out, `ecs_agent_docker_call_seconds_count{call="ListContainers"} 2`)
	assert.Contains(t, out, `ecs_agent_docker_call_errors_total{call="ListContainers"} 1`)
	assert.Contains(t, out, `ecs_agent_docker_call_seconds_count{call="InspectContainer"} 1`)
	assert.Contains(t, out, `ecs_agent_docker_call_errors_total{call="InspectContainer"} 0`, "not found is an answer, not a failure")
	assert.Contains(t, out, `ecs_agent_docker_call_errors_total{call="InspectImage"} 0`, "a cancelled call is not Docker's failure")
	assert.Contains(t, out, `ecs_agent_docker_call_errors_total{call="StartContainer"} 0`, "every call shows from the start")
	assert.Contains(t, out, "go_goroutines", "the Go runtime collector")
}

type fakeAPI struct{ err error }

func (f fakeAPI) SubmitTaskStateChange(context.Context, *ecs.SubmitTaskStateChangeInput, ...func(*ecs.Options)) (*ecs.SubmitTaskStateChangeOutput, error) {
	return &ecs.SubmitTaskStateChangeOutput{}, f.err
}

func TestStateChangesSentAndAcknowledged(t *testing.T) {
	m := New()
	ok, failing := m.StateChangeAPI(fakeAPI{}), m.StateChangeAPI(fakeAPI{err: errors.New("throttled")})
	_, _ = ok.SubmitTaskStateChange(t.Context(), &ecs.SubmitTaskStateChangeInput{Status: aws.String("RUNNING")})
	_, _ = failing.SubmitTaskStateChange(t.Context(), &ecs.SubmitTaskStateChangeInput{Status: aws.String("STOPPED")})
	_, _ = ok.SubmitTaskStateChange(t.Context(), &ecs.SubmitTaskStateChangeInput{Status: aws.String("STOPPED")})
	out := scrape(t, m)
	assert.Contains(t, out, `ecs_agent_state_changes_sent_total{status="RUNNING"} 1`)
	assert.Contains(t, out, `ecs_agent_state_changes_sent_total{status="STOPPED"} 2`)
	assert.Contains(t, out, `ecs_agent_state_changes_acknowledged_total{status="RUNNING"} 1`)
	assert.Contains(t, out, `ecs_agent_state_changes_acknowledged_total{status="STOPPED"} 1`)
}

func TestSessionState(t *testing.T) {
	m := New()
	var mu sync.Mutex
	up := false
	m.Session("tcs", func() bool { mu.Lock(); defer mu.Unlock(); return up })
	assert.Contains(t, scrape(t, m), `ecs_agent_session_connected{session="tcs"} 0`)
	mu.Lock()
	up = true
	mu.Unlock()
	assert.Contains(t, scrape(t, m), `ecs_agent_session_connected{session="tcs"} 1`)
}

type fakeTasks struct {
	mu      sync.Mutex
	snap    []engine.TaskSnapshot
	reports []engine.TaskReport
}

func (f *fakeTasks) Snapshot() []engine.TaskSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeTasks) Reports() []engine.TaskReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports
}

func TestTasksByStatusAndStartLatency(t *testing.T) {
	m := New()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	pullStart, pullStop := t0, t0.Add(2*time.Second)
	src := &fakeTasks{snap: []engine.TaskSnapshot{
		{ARN: "old", KnownStatus: engine.StatusRunning},
		{ARN: "new", KnownStatus: engine.StatusPending},
		{ARN: "gone", KnownStatus: engine.StatusStopped},
	}}
	m.Tasks(src) // registers ecs_agent_tasks; its loop calls observe on a ticker
	w := startWatch{m: m, src: src, done: make(map[string]bool)}
	w.observe()
	out := scrape(t, m)
	assert.Contains(t, out, `ecs_agent_tasks{status="RUNNING"} 1`)
	assert.Contains(t, out, `ecs_agent_tasks{status="PENDING"} 1`)
	assert.Contains(t, out, `ecs_agent_tasks{status="STOPPED"} 1`)
	assert.NotContains(t, out, `ecs_agent_task_start_seconds_count`, "a task running before the watch began is not measured")

	src.mu.Lock()
	src.snap[1] = engine.TaskSnapshot{ARN: "new", KnownStatus: engine.StatusRunning, Containers: []engine.ContainerSnapshot{
		{CreatedAt: t0.Add(2500 * time.Millisecond), StartedAt: t0.Add(3 * time.Second)},
		{CreatedAt: t0.Add(3 * time.Second), StartedAt: t0.Add(4 * time.Second)},
	}}
	src.reports = []engine.TaskReport{{TaskARN: "new", PullStartedAt: &pullStart, PullStoppedAt: &pullStop}}
	src.mu.Unlock()
	w.observe()
	w.observe()
	out = scrape(t, m)
	assert.Contains(t, out, `ecs_agent_task_start_seconds_sum{phase="pull"} 2`)
	assert.Contains(t, out, `ecs_agent_task_start_seconds_sum{phase="create"} 1`, "pulls done at 2 s, last container created at 3 s")
	assert.Contains(t, out, `ecs_agent_task_start_seconds_sum{phase="start"} 1`, "last created at 3 s, last started at 4 s")
	assert.Contains(t, out, `ecs_agent_task_start_seconds_count{phase="start"} 1`, "each task once")
}

func TestServeLoopback(t *testing.T) {
	m := New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(body), "process_resident_memory_bytes")
	cancel()
	require.NoError(t, <-done)
}
