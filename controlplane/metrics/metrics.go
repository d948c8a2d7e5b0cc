// Package metrics is the control plane's Prometheus exposition (GET
// /metrics): what agents report over TCS about their containers, what
// CloudWatch would show per cluster, and the control plane's own work. It
// has its own registry (never the global one), and it reads its sources at
// scrape time, so series come and go with the data behind them and the
// instrumented packages know nothing about Prometheus.
//
//	ecs_container_cpu_utilization_percent   {cluster,family,revision,task_id,container}  average over the latest window, percent of one CPU
//	ecs_container_memory_utilized_bytes     {...}                                        average over the latest window
//	ecs_container_network_rx_bytes_total    {...}                                        received since this control plane first saw the container
//	ecs_container_network_tx_bytes_total    {...}
//	ecs_container_healthy                   {...}                                        1 HEALTHY, 0 UNHEALTHY; absent while UNKNOWN
//	ecs_cluster_cpu_reservation_percent     {cluster}                                    CloudWatch's CPUReservation
//	ecs_cluster_cpu_utilization_percent     {cluster}                                    CloudWatch's CPUUtilization
//	ecs_cluster_memory_reservation_percent  {cluster}                                    CloudWatch's MemoryReservation
//	ecs_cluster_memory_utilization_percent  {cluster}                                    CloudWatch's MemoryUtilization
//	ecs_controlplane_api_requests_total     {operation,code}                             ECS API requests by operation and HTTP status
//	ecs_controlplane_api_request_duration_seconds {operation}                            their latency
//	ecs_controlplane_sessions               {protocol}                                   open ACS and TCS websocket sessions
//	ecs_controlplane_payloads_unacknowledged                                             ACS payloads waiting for the agent's ack
//	ecs_controlplane_tcs_frames_total       {result}                                     TCS frames accepted or refused
//	ecs_controlplane_telemetry_dropped_total                                             parts of accepted frames left out
//	go_*, process_*                                                                      the client library's collectors
//
// Container series exist while their data is fresh (the telemetry store's
// StaleAfter): a container that stopped, or whose agent went quiet, drops
// out of the next scrape.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

// ContainerSource is the telemetry store (*telemetry.Store).
type ContainerSource interface {
	// Containers returns every container with fresh metrics or health.
	Containers() []telemetry.Container
}

// Options name what the exposition reads. A nil function leaves its
// metric out.
type Options struct {
	Store     store.Store // clusters, instances and tasks, for the cluster metrics
	Telemetry ContainerSource
	// ACSSessions and TCSSessions count open websocket sessions.
	ACSSessions, TCSSessions func() int
	// Unacknowledged counts ACS payloads waiting for an ack.
	Unacknowledged func() int
	// TCSFrames returns the TCS server's counters: frames accepted and
	// refused, and parts of accepted frames dropped.
	TCSFrames func() (accepted, refused, dropped uint64)
}

// Metrics is the control plane's registry and its instruments.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the registry.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecs_controlplane_api_requests_total",
			Help: "ECS API requests, by operation (\"unknown\" for none the API serves) and HTTP status code.",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ecs_controlplane_api_request_duration_seconds",
			Help:    "Time to answer an ECS API request, by operation.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}, []string{"operation"}),
	}
	m.reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Telemetry != nil {
		m.reg.MustRegister(containerCollector{src: o.Telemetry})
		if o.Store != nil {
			m.reg.MustRegister(clusterCollector{store: o.Store, src: o.Telemetry})
		}
	}
	for protocol, count := range map[string]func() int{"acs": o.ACSSessions, "tcs": o.TCSSessions} {
		if count != nil {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ecs_controlplane_sessions", Help: "Open agent websocket sessions, by protocol (acs, tcs).",
				ConstLabels: prometheus.Labels{"protocol": protocol},
			}, func() float64 { return float64(count()) }))
		}
	}
	if o.Unacknowledged != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ecs_controlplane_payloads_unacknowledged",
			Help: "ACS PayloadMessages sent to agents and not acknowledged yet (at most 64 remembered per instance).",
		}, func() float64 { return float64(o.Unacknowledged()) }))
	}
	if o.TCSFrames != nil {
		for _, result := range []string{"accepted", "refused"} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "ecs_controlplane_tcs_frames_total", Help: "TCS frames from agents, by result: accepted (stored and acknowledged) or refused.",
				ConstLabels: prometheus.Labels{"result": result},
			}, func() float64 {
				accepted, refused, _ := o.TCSFrames()
				if result == "accepted" {
					return float64(accepted)
				}
				return float64(refused)
			}))
		}
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ecs_controlplane_telemetry_dropped_total",
			Help: "Parts of accepted TCS frames left out: unknown or stopped tasks, unknown containers, entries over the store's bounds.",
		}, func() float64 {
			_, _, dropped := o.TCSFrames()
			return float64(dropped)
		}))
	}
	return m
}

// Registry is the control plane's registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// InstrumentAPI counts and times the requests next (the ECS API) serves.
// operation names a request's operation, "" for none the API serves, so
// that label values are never arbitrary client input.
func (m *Metrics) InstrumentAPI(next http.Handler, operation func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		if op == "" {
			op = "unknown"
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(op, strconv.Itoa(rec.status)).Inc()
	})
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the API sets
// read deadlines through it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Serve serves GET /metrics alone on ln until ctx ends (then nil).
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, profiling bool) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if profiling {
		// Go's profiles, for an operator who asked for them: they show
		// where the control plane spends its CPU under a real fleet.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics server: %w", err)
	}
}
