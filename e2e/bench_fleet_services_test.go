package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The services benchmark is issue 13 §3's scenario: 50 services of 20 tasks
// on the fleet, until every one is steady, then all 50 rolled to a new
// revision of their task definition, with DescribeServices and RunTask
// timed throughout by the probe, a process of its own
// (bench_fleet_probe_test.go).
const (
	fleetServices     = 50
	fleetServiceTasks = 20
	// fleetLoadEvery paces the standalone RunTask calls timed while the
	// services start and roll.
	fleetLoadEvery   = 100 * time.Millisecond
	fleetStableSweep = 200 * time.Millisecond
	fleetStableLimit = 10 * time.Minute
)

// BenchmarkE2EFleetServices creates 50 services of 20 tasks on a fleet and
// reports the time until all are steady, the time to roll all of them to a
// new revision, DescribeServices and RunTask latency meanwhile, and the
// control plane's RSS and CPU.
func BenchmarkE2EFleetServices(b *testing.B) {
	for _, size := range fleetSizes(b) {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			fb := newFleetBench(b)
			for i := 0; b.Loop(); i++ {
				fb.newCluster(fmt.Sprintf("services-%d-%d", size, i))
				fb.services(size)
			}
		})
	}
}

func (fb *fleetBench) services(size int) {
	b, pid := fb.b, fb.cp.proc.cmd.Process.Pid
	ctx := context.Background()
	fleet, _ := fb.startFleet(size)
	defer func() {
		if err := fleet.Close(); err != nil {
			b.Error(err)
		}
	}()
	next := fb.registerDef(fb.cluster) // the revision the services roll to
	names := make([]string, fleetServices)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%02d", i)
	}
	probe := fb.startProbe(names)
	defer lowerOwnPriority(b, fleetNice)()

	began, cpu0 := time.Now(), cpuTicks(b, pid)
	for _, name := range names {
		if _, err := fb.api.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(fb.cluster),
			ServiceName: aws.String(name), TaskDefinition: aws.String(fb.def), DesiredCount: aws.Int32(fleetServiceTasks)}); err != nil {
			b.Fatal(err)
		}
	}
	describes := fb.awaitStable(ctx, names, fb.def)
	steady, steadyCPU := time.Since(began), cpuSeconds(cpuTicks(b, pid)-cpu0)

	began, cpu0 = time.Now(), cpuTicks(b, pid)
	for _, name := range names {
		if _, err := fb.api.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(fb.cluster),
			Service: aws.String(name), TaskDefinition: aws.String(next)}); err != nil {
			b.Fatal(err)
		}
	}
	describes = append(describes, fb.awaitStable(ctx, names, next)...)
	rolled, rolledCPU := time.Since(began), cpuSeconds(cpuTicks(b, pid)-cpu0)
	probed := probe()
	rss, hwm := procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "VmHWM")
	scrape := scrapeControlPlane(b, fb.cp)

	b.ReportMetric(steady.Seconds(), "services-steady-s")
	b.ReportMetric(rolled.Seconds(), "services-rolled-s")
	b.ReportMetric(steadyCPU, "services-steady-CPU-s")
	b.ReportMetric(rolledCPU, "services-rolled-CPU-s")
	b.ReportMetric(ms(percentile(probed.DescribeServices, 50)), "DescribeServices-p50-ms")
	b.ReportMetric(ms(percentile(probed.DescribeServices, 99)), "DescribeServices-p99-ms")
	b.ReportMetric(ms(percentile(probed.RunTask, 50)), "RunTask-p50-ms")
	b.ReportMetric(ms(percentile(probed.RunTask, 99)), "RunTask-p99-ms")
	// The sweeps that wait for steady state, timed in the fleet's process
	// as the figures above were before the probe.
	b.ReportMetric(ms(percentile(describes, 99)), "DescribeServices-fleetproc-p99-ms")
	b.ReportMetric(ms(time.Duration(serverP99(b, scrape, "DescribeServices")*float64(time.Second))), "DescribeServices-server-p99-bucket-ms")
	b.ReportMetric(ms(time.Duration(serverP99(b, scrape, "RunTask")*float64(time.Second))), "RunTask-server-p99-bucket-ms")
	b.ReportMetric(float64(rss)/1024, "RSS-MiB")
	b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
	b.ReportMetric(loadAverage(b), "host-load1")
	b.Logf("instances=%d: %d services of %d steady in %s (CP CPU %.1f s), rolled in %s (CP CPU %.1f s); "+
		"%d DescribeServices (%d more from the fleet's process), %d RunTask; RSS %.1f MiB (peak %.1f); %d containers running; load %.2f",
		size, fleetServices, fleetServiceTasks, steady.Round(time.Millisecond), steadyCPU, rolled.Round(time.Millisecond), rolledCPU,
		len(probed.DescribeServices), len(describes), len(probed.RunTask), float64(rss)/1024, float64(hwm)/1024, fleet.RunningContainers(), loadAverage(b))
}

// awaitStable sweeps DescribeServices (ten services a call) until every
// service in names runs def alone at its desired count, as `aws ecs wait
// services-stable` asks, and returns each call's latency.
func (fb *fleetBench) awaitStable(ctx context.Context, names []string, def string) []time.Duration {
	b := fb.b
	var times []time.Duration
	deadline := time.Now().Add(fleetStableLimit)
	for {
		stable := 0
		for chunk := range slices.Chunk(names, 10) { // DescribeServices takes at most 10
			t0 := time.Now()
			out, err := fb.api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(fb.cluster), Services: chunk})
			times = append(times, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			for _, svc := range out.Services {
				if isStable(svc, def) {
					stable++
				}
			}
		}
		if stable == len(names) {
			return times
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d services steady on %s after %s", stable, len(names), def, fleetStableLimit)
		}
		time.Sleep(fleetStableSweep) // pacing the sweeps; not part of any figure
	}
}

func isStable(svc types.Service, def string) bool {
	return len(svc.Deployments) == 1 && aws.ToString(svc.Deployments[0].TaskDefinition) == def &&
		svc.RunningCount == svc.DesiredCount && svc.DesiredCount == fleetServiceTasks
}
