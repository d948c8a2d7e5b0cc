package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-ecs/ecs-agent/agent/stats"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// staticTasks is an engine snapshot that never changes.
type staticTasks []engine.TaskSnapshot

func (s staticTasks) Snapshot() []engine.TaskSnapshot { return s }

// BenchmarkE2EStatsCollector100 runs the stats collector alone, in this
// process, against 100 real running containers, streaming (the default) and
// polling: what the collection itself adds to the agent, apart from the
// rest of it. It reports the process's RSS growth, heap and stacks in use,
// goroutines per container and CPU over a 20 s window once the rings are
// full.
func BenchmarkE2EStatsCollector100(b *testing.B) {
	requireTools(b, "docker")
	requireImage(b, testImage)
	label := "ecs-agent-bench-stats=" + uniqueName(b)
	b.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = dockerCmd(append([]string{"rm", "-f"}, ids...)...)
		}
	})
	var snap staticTasks
	for i := range benchBurstTasks {
		out, err := exec.Command("docker", "run", "-d", "--label", label, testImage,
			"sh", "-c", "trap 'exit 143' TERM; sleep 3600 & wait").Output()
		if err != nil {
			b.Fatalf("docker run: %v", err)
		}
		snap = append(snap, engine.TaskSnapshot{ARN: fmt.Sprint("task-", i), KnownStatus: engine.StatusRunning,
			Containers: []engine.ContainerSnapshot{{Name: "app", DockerID: strings.TrimSpace(string(out)), KnownStatus: engine.StatusRunning}}})
	}
	dc, err := dockerapi.New(os.Getenv("DOCKER_HOST"))
	if err != nil {
		b.Fatal(err)
	}
	defer dc.Close()
	for _, poll := range []bool{false, true} {
		b.Run(map[bool]string{false: "stream", true: "poll"}[poll], func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				rss0, g0 := vmRSSKB(b, os.Getpid()), runtime.NumGoroutine()
				c := stats.New(stats.Options{Runtime: dc, Tasks: snap, Poll: poll})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); _ = c.Run(ctx) }()
				time.Sleep(benchTelemetrySettle) // the streams start and the rings fill
				cpu0, t0 := cpuNanos(), time.Now()
				time.Sleep(2 * benchUsageWindow) // the measurement window itself
				cpu := float64(cpuNanos()-cpu0) / float64(time.Since(t0)) * 100
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				rss := vmRSSKB(b, os.Getpid())
				g := runtime.NumGoroutine()
				if n := len(c.TaskMetrics()); n != benchBurstTasks {
					b.Fatalf("metrics of %d tasks, want %d", n, benchBurstTasks)
				}
				cancel()
				<-done

				b.ReportMetric(float64(rss-rss0)/1024, "RSS-growth-MiB")
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
				b.ReportMetric(float64(ms.StackInuse)/(1<<20), "stacks-MiB")
				b.ReportMetric(float64(g-g0)/benchBurstTasks, "goroutines/container")
				b.ReportMetric(cpu, "CPU-%")
				b.ReportMetric(loadAverage(b), "host-load1")
			}
		})
	}
}

// cpuNanos is this process's user+system CPU time.
func cpuNanos() int64 {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r.Utime.Nano() + r.Stime.Nano()
}
