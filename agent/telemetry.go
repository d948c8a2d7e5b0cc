package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/open-ecs/ecs-agent/agent/metrics"
	"github.com/open-ecs/ecs-agent/agent/stats"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs"
	"github.com/open-ecs/ecs-agent/version"
)

// Telemetry returns the TCS endpoint (tcs.Options.DiscoverEndpoint), from
// the same cached DiscoverPollEndpoint answer as ACS. After a TCS
// connection failed, the next call asks the backend again.
func (p *pollEndpoints) Telemetry(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.telemetry != "" && !p.telemetryStale && p.now().Sub(p.fetched) < pollEndpointTTL {
		p.telemetryStale = true
		return p.telemetry, nil
	}
	out, err := p.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{
		Cluster:           aws.String(p.cluster),
		ContainerInstance: aws.String(p.containerInst),
	})
	if err == nil && aws.ToString(out.TelemetryEndpoint) == "" {
		err = errors.New("the response has no telemetryEndpoint")
	}
	if err != nil {
		if p.telemetry != "" {
			p.log.Warn("discover poll endpoint failed; using the cached telemetry endpoint",
				logging.KeyError, err, logging.KeyEndpoint, p.telemetry)
			p.telemetryStale = true
			return p.telemetry, nil
		}
		return "", fmt.Errorf("discover telemetry endpoint: %w", err)
	}
	p.acs, p.telemetry = aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint)
	p.fetched = p.now()
	p.telemetryStale = true
	return p.telemetry, nil
}

// TelemetryConnected records that a TCS connection succeeded
// (tcs.Options.OnConnected).
func (p *pollEndpoints) TelemetryConnected() {
	p.mu.Lock()
	p.telemetryStale = false
	p.mu.Unlock()
}

// pinger is the Docker check of the ContainerRuntime instance status.
type pinger interface {
	Ping(ctx context.Context) error
}

// telemetryDeps is what the telemetry needs from run.
type telemetryDeps struct {
	cfg         *config.Config
	runtime     runtime.Runtime
	docker      DockerClient
	tasks       taskEngine
	endpoints   *pollEndpoints
	acs         interface{ Connected() bool }
	arn, region string
	dockerVer   string
	creds       aws.CredentialsProvider
	tlsConfig   *tls.Config
	log         *slog.Logger
}

// newTelemetry builds the stats collector (unless ECS_DISABLE_METRICS) and
// the TCS session. The caller starts them under the supervisor.
func newTelemetry(d telemetryDeps) (*stats.Collector, *tcs.Session) {
	var collector *stats.Collector
	var source tcs.MetricsSource
	if st, ok := d.runtime.(runtime.Stats); ok && !d.cfg.DisableMetrics {
		collector = stats.New(stats.Options{
			Runtime: st, Tasks: d.tasks, Cluster: d.cfg.Cluster, Logger: d.log,
			Poll: d.cfg.PollMetrics, PollInterval: d.cfg.PollingMetricsWaitDuration,
		})
		source = collector
	} else if !d.cfg.DisableMetrics {
		d.log.Warn("the container runtime cannot read stats; TCS sends no metrics")
	}
	session := tcs.NewSession(tcs.Options{
		DiscoverEndpoint:     d.endpoints.Telemetry,
		OnConnected:          d.endpoints.TelemetryConnected,
		Cluster:              d.cfg.Cluster,
		ContainerInstanceARN: d.arn,
		AgentVersion:         version.Version,
		AgentHash:            version.GitHash,
		DockerVersion:        d.dockerVer,
		Region:               d.region,
		Credentials:          d.creds,
		TLSConfig:            d.tlsConfig,
		Logger:               d.log,
		Metrics:              source,
		Tasks:                d.tasks,
		Checks:               instanceChecks(d.docker, d.acs),
	})
	return collector, session
}

// instanceChecks are the ContainerRuntime (a Docker ping) and Agent (the
// ACS session is connected) instance statuses.
func instanceChecks(docker DockerClient, acs interface{ Connected() bool }) []tcs.Check {
	ping := func(ctx context.Context) error {
		if p, ok := docker.(pinger); ok {
			return p.Ping(ctx)
		}
		_, err := docker.Version(ctx)
		return err
	}
	return []tcs.Check{
		{Type: tcs.StatusTypeContainerRuntime, Probe: ping},
		{Type: tcs.StatusTypeAgent, Probe: func(context.Context) error {
			if !acs.Connected() {
				return errors.New("the ACS session is not connected")
			}
			return nil
		}},
	}
}

// newPrometheus returns the agent's metrics when ECS_ENABLE_PROMETHEUS_METRICS
// is on, else nil (whose decorators pass through).
func newPrometheus(cfg *config.Config) *metrics.Metrics {
	if !cfg.PrometheusMetricsEnabled {
		return nil
	}
	return metrics.New()
}

// startTelemetry starts the stats collector, the TCS session and, when on,
// the Prometheus server (on addr; "" is 127.0.0.1:51680) under sup, and
// returns the TCS session and the collector (nil when there is none; the
// task metadata endpoint serves its samples).
func startTelemetry(sup *supervisor, d telemetryDeps, prom *metrics.Metrics, addr string) (*tcs.Session, *stats.Collector, error) {
	collector, session := newTelemetry(d)
	if prom != nil {
		if addr == "" {
			addr = metrics.DefaultAddr
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("prometheus metrics (ECS_ENABLE_PROMETHEUS_METRICS) on %s: %w", addr, err)
		}
		prom.Session("acs", d.acs.Connected)
		prom.Session("tcs", session.Connected)
		sup.start("prometheus-tasks", prom.Tasks(d.tasks))
		sup.start("prometheus", func(ctx context.Context) error { return prom.Serve(ctx, ln) })
		d.log.Info("serving Prometheus metrics", logging.KeyAddr, ln.Addr().String())
	}
	if collector != nil {
		sup.start("stats", collector.Run)
	}
	sup.start("tcs", session.Run)
	return session, collector, nil
}
