package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchTelemetrySettle is how long the 100 tasks run before the usage
// window: the collector finds new containers within 5 s and its rings fill
// in 80 s (four 20 s publish intervals at one sample a second), so the
// window sees the steady state.
const benchTelemetrySettle = 90 * time.Second

// BenchmarkE2ETelemetryUsage measures the agent's RSS and CPU with metrics
// on (the default: one Docker stats stream per running container) and the
// Prometheus server on, idle and with 100 running tasks.
// E2E_BENCH_AGENT_ENV=KEY=VALUE adds one setting to the agent's
// environment, to compare runs (GOGC=50, ECS_POLL_METRICS=true ...).
func BenchmarkE2ETelemetryUsage(b *testing.B) {
	env := []string{"ECS_ENABLE_PROMETHEUS_METRICS=true"}
	if extra := os.Getenv("E2E_BENCH_AGENT_ENV"); extra != "" {
		env = append(env, extra)
	}
	bc := startBenchCluster(b, env...)
	ctx := context.Background()
	for b.Loop() {
		idle := sampleUsage(b, bc.agent.proc.cmd.Process.Pid, 2*benchUsageWindow)

		var mu sync.Mutex
		var arns []string
		var wg sync.WaitGroup
		errs := make(chan error, benchBurstTasks/benchRunTaskMax)
		for range benchBurstTasks / benchRunTaskMax {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := bc.run(ctx, benchRunTaskMax)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				arns = append(arns, got...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		bc.awaitRunning(b, arns, 5*time.Minute)
		time.Sleep(benchTelemetrySettle) // let the streams start and the rings fill
		loaded := sampleUsage(b, bc.agent.proc.cmd.Process.Pid, 2*benchUsageWindow)
		streams := scrapeMetric(b, "ecs_agent_docker_call_seconds_count") // proves the exposition answers

		b.ReportMetric(idle.rssMiB, "idle-RSS-MiB")
		b.ReportMetric(idle.cpuPercent, "idle-CPU-%")
		b.ReportMetric(loaded.rssMiB, "100-tasks-RSS-MiB")
		b.ReportMetric(loaded.cpuPercent, "100-tasks-CPU-%")
		b.ReportMetric(float64(streams), "prometheus-docker-series")
		b.ReportMetric(loadAverage(b), "host-load1")
	}
}

// scrapeMetric counts the series of one metric on the agent's exposition.
func scrapeMetric(b *testing.B, name string) int {
	b.Helper()
	resp, err := http.Get("http://127.0.0.1:51680/metrics")
	if err != nil {
		b.Fatalf("scrape the agent's Prometheus metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") {
			n++
		}
	}
	if n == 0 {
		b.Fatalf("the agent's metrics have no %s", name)
	}
	return n
}
