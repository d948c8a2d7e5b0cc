package agent

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/sigv4"
	"github.com/open-ecs/ecs-agent/tcs"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// tcsRecorder is a TCS endpoint for the stub backend: it verifies every
// frame's signature against the session URL and keeps the messages.
type tcsRecorder struct {
	t   *testing.T
	mu  sync.Mutex
	got []any
}

func (r *tcsRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	v := &sigv4.Verifier{Service: "ecs", Region: "us-west-2",
		Credentials: sigv4.StaticCredentials{"AKIDTEST": {SecretAccessKey: "test-secret"}}}
	if _, err := v.Verify(req, nil); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return
		}
		fr, env, err := wire.FrameRequest(frame, req.URL)
		if err == nil {
			_, err = v.Verify(fr, env)
		}
		var msg any
		if err == nil {
			msg, err = wire.Decode(env)
		}
		if !assert.NoError(r.t, err, "a frame the TCS server cannot verify") {
			return
		}
		r.mu.Lock()
		r.got = append(r.got, msg)
		r.mu.Unlock()
	}
}

func (r *tcsRecorder) status() *wire.PublishInstanceStatusRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.got {
		if st, ok := m.(*wire.PublishInstanceStatusRequest); ok {
			return st
		}
	}
	return nil
}

func (r *tcsRecorder) has(shape string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.got {
		if m.(wire.Message).ShapeName() == shape {
			return true
		}
	}
	return false
}

func TestRunPublishesTelemetry(t *testing.T) {
	h := newHarness(t)
	rec := &tcsRecorder{t: t}
	h.stub.set(func(s *ecsStub) { s.tcs = rec })
	_, stop := h.start()
	require.Eventually(t, func() bool { return rec.status() != nil }, 20*time.Second, 10*time.Millisecond)

	st := rec.status()
	byType := map[string]wire.InstanceStatus{}
	for _, s := range st.Statuses {
		byType[s.Type] = s
	}
	assert.Equal(t, wire.InstanceHealthcheckStatusOk, byType[tcs.StatusTypeContainerRuntime].Status, "Docker answers")
	assert.Equal(t, wire.InstanceHealthcheckStatusImpaired, byType[tcs.StatusTypeAgent].Status, "the stub has no ACS")
	assert.Contains(t, byType[tcs.StatusTypeAgent].StatusReason, "ACS session is not connected")
	assert.True(t, rec.has("PublishMetricsRequest"), "metrics are on by default")
	require.NoError(t, stop())
}

func TestRunWithMetricsDisabled(t *testing.T) {
	h := newHarness(t)
	h.cfg.DisableMetrics = true
	rec := &tcsRecorder{t: t}
	h.stub.set(func(s *ecsStub) { s.tcs = rec })
	_, stop := h.start()
	require.Eventually(t, func() bool { return rec.status() != nil }, 20*time.Second, 10*time.Millisecond)
	assert.False(t, rec.has("PublishMetricsRequest"), "ECS_DISABLE_METRICS: no metrics, the rest flows")
	require.NoError(t, stop())
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestRunServesPrometheusMetrics(t *testing.T) {
	h := newHarness(t)
	h.cfg.PrometheusMetricsEnabled = true
	h.opts.metricsAddr = freePort(t)
	_, stop := h.start()

	resp, err := http.Get("http://" + h.opts.metricsAddr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`ecs_agent_session_connected{session="acs"}`, `ecs_agent_session_connected{session="tcs"}`,
		`ecs_agent_tasks{status="RUNNING"} 0`, `ecs_agent_docker_call_seconds_count{call="ListContainers"}`,
	} {
		assert.Contains(t, text, want)
	}
	require.NoError(t, stop())
	_, err = http.Get("http://" + h.opts.metricsAddr + "/metrics")
	require.Error(t, err, "the listener closes with the agent")
}

func TestRunPrometheusPortInUseIsTerminal(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	h.cfg.PrometheusMetricsEnabled = true
	h.opts.metricsAddr = ln.Addr().String()
	err = h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	assert.True(t, strings.Contains(err.Error(), "ECS_ENABLE_PROMETHEUS_METRICS"), err.Error())
}
