package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// The fleet benchmark measures how the control plane's cost grows with the
// number of container instances (issue 13 §3): the real ecs-controlplane
// binary against a fleet of simulated instances in this process, each the
// agent's own code over a fake runtime (agent/fleetsim). No Docker is
// involved, so what is measured is the control plane plus the agents'
// protocol work, all on the same CPUs.
const (
	fleetTasks      = 1000
	fleetRunWorkers = 4 // RunTask calls in flight, as a deploy tool might issue them
	// fleetSweep paces the DescribeTasks sweeps that wait for RUNNING; each
	// sweep's calls are also the latency sample under load.
	fleetSweep     = 50 * time.Millisecond
	fleetDescribes = 200 // DescribeTasks of 10 tasks each once all run
	fleetLateRuns  = 50  // RunTask of one task each, one at a time, once all run
	fleetImage     = "ecs-agent-test/busybox:latest"
)

// fleetSizes are the fleet sizes to run: 50 and 500, or the comma-separated
// list in ECS_BENCH_FLEET_SIZES.
func fleetSizes(b *testing.B) []int {
	v := os.Getenv("ECS_BENCH_FLEET_SIZES")
	if v == "" {
		return []int{50, 500}
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("ECS_BENCH_FLEET_SIZES=%q: want positive counts separated by commas", v)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// BenchmarkE2EFleet registers a fleet, starts 1,000 tasks on it with RunTask
// (ten per call) and waits until DescribeTasks shows all RUNNING; it reports
// the times, the API latencies under that load and the control plane's
// resident memory and CPU.
func BenchmarkE2EFleet(b *testing.B) {
	for _, size := range fleetSizes(b) {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) { benchFleet(b, size) })
	}
}

func benchFleet(b *testing.B, size int) {
	fb := newFleetBench(b)
	for i := 0; b.Loop(); i++ {
		fb.newCluster(fmt.Sprintf("fleet-%d-%d", size, i))
		fb.once(size)
	}
}

// once runs one fleet through registration, the burst and a steady window.
func (fb *fleetBench) once(size int) {
	b, pid := fb.b, fb.cp.proc.cmd.Process.Pid
	ctx := context.Background()
	fleet, start := fb.startFleet(size)
	defer func() {
		if err := fleet.Close(); err != nil {
			b.Error(err)
		}
	}()
	ready, register, registerCPU, fleetRSS := start.ready, start.connected, start.cpu, start.rssKB

	began, cpu0 := time.Now(), cpuTicks(b, pid)
	runTasks, describes, arns := fb.burst(ctx)
	burst := time.Since(began)
	burstCPU := cpuSeconds(cpuTicks(b, pid) - cpu0)
	if got := fleet.RunningContainers(); got != fleetTasks {
		b.Fatalf("%d containers run on the fleet's runtimes, want %d", got, fleetTasks)
	}

	steady := sampleUsage(b, pid, benchUsageWindow)
	var small []time.Duration // DescribeTasks of ten tasks, everything running
	for i := range fleetDescribes {
		j := (i * 10) % (len(arns) - 10)
		t0 := time.Now()
		if _, err := fb.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(fb.cluster), Tasks: arns[j : j+10]}); err != nil {
			b.Fatal(err)
		}
		small = append(small, time.Since(t0))
	}
	// RunTask without the burst around it: what one placement costs with
	// the fleet and its 1,000 tasks in the store.
	var late []time.Duration
	for range fleetLateRuns {
		t0 := time.Now()
		if _, err := fb.api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(fb.cluster), TaskDefinition: aws.String(fb.def)}); err != nil {
			b.Fatal(err)
		}
		late = append(late, time.Since(t0))
	}
	rss, hwm := procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "VmHWM")
	anon, file := procStatusKB(b, pid, "RssAnon"), procStatusKB(b, pid, "RssFile")
	scrape := scrapeControlPlane(b, fb.cp)
	heap, stacks := gaugeValue(b, scrape, "go_memstats_heap_inuse_bytes"), gaugeValue(b, scrape, "go_memstats_stack_inuse_bytes")
	goroutines := gaugeValue(b, scrape, "go_goroutines")

	b.ReportMetric(ready.Seconds(), "ready-s")
	b.ReportMetric(register.Seconds(), "register-s")
	b.ReportMetric(registerCPU, "register-CPU-s")
	b.ReportMetric(burst.Seconds(), "run-1000-s")
	b.ReportMetric(burstCPU, "run-1000-CPU-s")
	b.ReportMetric(ms(percentile(runTasks, 50)), "RunTask-p50-ms")
	b.ReportMetric(ms(percentile(runTasks, 99)), "RunTask-p99-ms")
	b.ReportMetric(ms(percentile(describes, 50)), "DescribeTasks100-p50-ms")
	b.ReportMetric(ms(percentile(describes, 99)), "DescribeTasks100-p99-ms")
	b.ReportMetric(ms(percentile(late, 50)), "RunTask1-steady-p50-ms")
	b.ReportMetric(ms(percentile(late, 99)), "RunTask1-steady-p99-ms")
	b.ReportMetric(ms(percentile(small, 50)), "DescribeTasks10-p50-ms")
	b.ReportMetric(ms(percentile(small, 99)), "DescribeTasks10-p99-ms")
	b.ReportMetric(steady.cpuPercent, "steady-CPU-%")
	b.ReportMetric(float64(rss)/1024, "RSS-MiB")
	b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(fleetRSS)/1024/float64(size), "fleet-RSS-MiB-per-instance")
	b.ReportMetric(loadAverage(b), "host-load1")
	connects, reasons := fb.acsSessions()
	b.ReportMetric(float64(connects-size), "ACS-reconnects")
	b.Logf("ACS sessions: %d opened for %d instances; ended: %v", connects, size, reasons)
	b.Logf("control plane memory: anonymous %.1f MiB, file %.1f MiB; heap in use %.1f MiB, stacks %.1f MiB, %.0f goroutines",
		float64(anon)/1024, float64(file)/1024, heap/(1<<20), stacks/(1<<20), goroutines)
	b.Logf("instances=%d: ready in %s, connected in %s (CP CPU %.2f s); 1,000 tasks RUNNING in %s (CP CPU %.2f s, %d RunTask, %d DescribeTasks); "+
		"steady CP CPU %.2f %%, RSS %.1f MiB (peak %.1f); fleet process RSS %.0f MiB; load %.2f",
		size, ready.Round(time.Millisecond), register.Round(time.Millisecond), registerCPU, burst.Round(time.Millisecond), burstCPU, len(runTasks), len(describes),
		steady.cpuPercent, float64(rss)/1024, float64(hwm)/1024, float64(fleetRSS)/1024, loadAverage(b))
}

func cpuSeconds(ticks int64) float64 { return float64(ticks) / 100 } // USER_HZ

// burst starts fleetTasks tasks, ten per RunTask call from fleetRunWorkers
// workers, while DescribeTasks sweeps wait for all to be RUNNING. It returns
// each call's latency and the tasks' ARNs.
func (fb *fleetBench) burst(ctx context.Context) (runTasks, describes []time.Duration, arns []string) {
	b := fb.b
	var mu sync.Mutex
	calls := make(chan struct{}, fleetTasks/benchRunTaskMax)
	for range cap(calls) {
		calls <- struct{}{}
	}
	close(calls)
	errs := make(chan error, fleetRunWorkers)
	var wg sync.WaitGroup
	for range fleetRunWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				t0 := time.Now()
				out, err := fb.api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(fb.cluster),
					TaskDefinition: aws.String(fb.def), Count: aws.Int32(benchRunTaskMax)})
				d := time.Since(t0)
				if err == nil && len(out.Failures) > 0 {
					err = fmt.Errorf("RunTask failures: %s: %s", aws.ToString(out.Failures[0].Reason), aws.ToString(out.Failures[0].Detail))
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				runTasks = append(runTasks, d)
				for _, task := range out.Tasks {
					arns = append(arns, aws.ToString(task.TaskArn))
				}
				mu.Unlock()
			}
		}()
	}
	started := make(chan struct{})
	go func() {
		wg.Wait()
		close(started)
	}()

	running := map[string]bool{}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		mu.Lock()
		pending := slices.DeleteFunc(slices.Clone(arns), func(arn string) bool { return running[arn] })
		mu.Unlock()
		for chunk := range slices.Chunk(pending, 100) { // DescribeTasks takes at most 100
			t0 := time.Now()
			out, err := fb.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(fb.cluster), Tasks: chunk})
			describes = append(describes, time.Since(t0))
			if err != nil {
				b.Fatalf("DescribeTasks while %d tasks are not RUNNING: %v", len(pending), err)
			}
			for _, task := range out.Tasks {
				switch aws.ToString(task.LastStatus) {
				case "RUNNING":
					running[aws.ToString(task.TaskArn)] = true
				case "STOPPED":
					b.Fatalf("task %s STOPPED: %s", aws.ToString(task.TaskArn), aws.ToString(task.StoppedReason))
				}
			}
		}
		select {
		case <-started:
			if len(running) == fleetTasks {
				return runTasks, describes, arns
			}
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d tasks RUNNING after 10 minutes", len(running), fleetTasks)
		}
		time.Sleep(fleetSweep) // pacing the sweeps; not part of any figure
	}
}
