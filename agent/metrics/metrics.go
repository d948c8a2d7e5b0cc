// Package metrics is the agent's Prometheus exposition, served on
// 127.0.0.1:51680/metrics when ECS_ENABLE_PROMETHEUS_METRICS is on. The
// agent has its own registry (never the global one), so that nothing a
// library registers leaks into it.
//
// The metrics come from decorators and readers, so the instrumented code
// does not know about Prometheus: Runtime wraps the container runtime
// (Docker call latency and errors), StateChangeAPI wraps the
// SubmitTaskStateChange client (sent and acknowledged), Session reads a
// session's Connected, and Tasks reads the engine's snapshots (tasks by
// status at scrape time; start latency by phase from a watch loop).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is where the incumbent serves its metrics; loopback only.
const DefaultAddr = "127.0.0.1:51680"

const namespace = "ecs_agent"

// Metrics holds the agent's registry and its instruments.
type Metrics struct {
	reg *prometheus.Registry

	taskStart     *prometheus.HistogramVec
	dockerLatency *prometheus.HistogramVec
	dockerErrors  *prometheus.CounterVec
	sent, acked   *prometheus.CounterVec
}

// New returns the metrics with a fresh registry, the Go runtime and process
// collectors included.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		taskStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "task_start_seconds",
			Help:    "Time a task spent in each start phase: pull (image pulls), create (until the last container was created), start (until the last was started).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}, []string{"phase"}),
		dockerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "docker_call_seconds",
			Help:    "Latency of Docker Engine API calls, by call.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 120},
		}, []string{"call"}),
		dockerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "docker_call_errors_total",
			Help: "Docker Engine API calls that failed, by call.",
		}, []string{"call"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "state_changes_sent_total",
			Help: "SubmitTaskStateChange calls made, by task status.",
		}, []string{"status"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "state_changes_acknowledged_total",
			Help: "SubmitTaskStateChange calls the backend accepted, by task status.",
		}, []string{"status"}),
	}
	m.reg.MustRegister(m.taskStart, m.dockerLatency, m.dockerErrors, m.sent, m.acked,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the agent's registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Session exports a session's state as ecs_agent_session_connected{session}.
func (m *Metrics) Session(name string, connected func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "session_connected",
		Help:        "1 while the named websocket session (acs, tcs) is connected, else 0.",
		ConstLabels: prometheus.Labels{"session": name},
	}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	}))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Serve serves /metrics on ln until ctx ends (nil).
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("prometheus metrics server: %w", err)
	}
}
