package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// The task benchmarks drive the control plane with the Go SDK rather than
// the aws CLI: the CLI's own start-up (hundreds of milliseconds of CPU) would
// dwarf what is measured and steal CPU from the agent on a small machine.
// Images are never pulled (prefer-cached): the figures are the agent's work
// and Docker's, not a registry's.

const (
	benchOverheadTasks = 50
	benchBurstTasks    = 100
	benchRunTaskMax    = 10 // RunTask's count is at most 10
	// benchPoll is how often the benchmarks read the agent's log for RUNNING
	// submissions. The figures come from the log's timestamps, so the
	// interval only paces the next step; polling the API instead would load
	// the control plane, which shares the CPU with the agent.
	benchPoll = 10 * time.Millisecond
	// benchUsageWindow is how long RSS and CPU are sampled.
	benchUsageWindow = 10 * time.Second
)

// benchCluster is a task cluster for the benchmarks: an agent that never
// pulls and logs at info level, an SDK client and a one-container task definition.
type benchCluster struct {
	*taskCluster
	docker *client.Client
	def    string
}

func startBenchCluster(b *testing.B, extraEnv ...string) *benchCluster {
	b.Helper()
	tc := startTaskCluster(b, append([]string{"ECS_IMAGE_PULL_BEHAVIOR=prefer-cached", "ECS_LOGLEVEL=info"}, extraEnv...)...)
	main := containerDef("main", true, sleeper)
	main["memory"] = 16
	main["cpu"] = 2
	bc := &benchCluster{taskCluster: tc, def: tc.register(b, taskDef(uniqueName(b), main))}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dc.Close() })
	bc.docker = dc
	return bc
}

// run starts count tasks with one RunTask call and returns their ARNs.
func (bc *benchCluster) run(ctx context.Context, count int) ([]string, error) {
	out, err := bc.api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(bc.name), TaskDefinition: aws.String(bc.def), Count: aws.Int32(int32(count))})
	if err != nil {
		return nil, fmt.Errorf("RunTask: %w", err)
	}
	if len(out.Failures) > 0 {
		return nil, fmt.Errorf("RunTask failures: %s: %s", aws.ToString(out.Failures[0].Reason), aws.ToString(out.Failures[0].Detail))
	}
	arns := make([]string, 0, len(out.Tasks))
	for _, task := range out.Tasks {
		arns = append(arns, aws.ToString(task.TaskArn))
	}
	return arns, nil
}

// awaitRunningLogged waits until the agent's log shows the RUNNING state
// change of every task in arns accepted by the control plane, and returns
// when each was.
func (bc *benchCluster) awaitRunningLogged(b *testing.B, arns []string, timeout time.Duration) map[string]time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		running := map[string]time.Time{}
		for arn, m := range agentLogTimes(bc.agent.proc.out.String(), arns) {
			if _, ok := m["submitted=STOPPED"]; ok {
				b.Fatalf("task %s STOPPED", arn)
			}
			if at, ok := m["submitted=RUNNING"]; ok {
				running[arn] = at
			}
		}
		if len(running) == len(arns) {
			return running
		}
		if time.Now().After(deadline) || bc.agent.proc.exited() {
			b.Fatalf("%d of %d tasks RUNNING after %s (agent exited: %v)", len(running), len(arns), timeout, bc.agent.proc.exited())
		}
		time.Sleep(benchPoll)
	}
}

// awaitRunning polls DescribeTasks until every task in arns is RUNNING.
func (bc *benchCluster) awaitRunning(b *testing.B, arns []string, timeout time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pending := slices.Clone(arns)
	for len(pending) > 0 {
		out, err := bc.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(bc.name), Tasks: pending})
		if err != nil {
			b.Fatalf("DescribeTasks while %d tasks are not RUNNING: %v", len(pending), err)
		}
		pending = pending[:0]
		for _, task := range out.Tasks {
			if aws.ToString(task.LastStatus) == "STOPPED" {
				b.Fatalf("task %s STOPPED: %s", aws.ToString(task.TaskArn), aws.ToString(task.StoppedReason))
			}
			if aws.ToString(task.LastStatus) != "RUNNING" {
				pending = append(pending, aws.ToString(task.TaskArn))
			}
		}
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond) // polling interval; not part of any figure
		}
	}
}

// template returns the Docker config of the agent's container for a task, so
// that "Docker alone" creates exactly what the agent created.
func (bc *benchCluster) template(b *testing.B, arn string) (*container.Config, *container.HostConfig) {
	b.Helper()
	ids := containersWithLabel(b, "com.amazonaws.ecs.task-arn", arn)
	if len(ids) != 1 {
		b.Fatalf("task %s has containers %v, want one", arn, ids)
	}
	info, err := bc.docker.ContainerInspect(context.Background(), ids[0])
	if err != nil {
		b.Fatal(err)
	}
	cfg, hc := info.Config, info.HostConfig
	cfg.Hostname = ""
	cfg.Labels = map[string]string{"ecs-agent-bench": bc.name}
	return cfg, hc
}

// dockerAlone creates and starts n containers from the template, conc at a
// time, and returns each one's create+start time and the total.
func (bc *benchCluster) dockerAlone(b *testing.B, cfg *container.Config, hc *container.HostConfig, n, conc int) ([]time.Duration, time.Duration) {
	b.Helper()
	b.Cleanup(func() { bc.removeDockerAlone(b) })
	ctx := context.Background()
	each := make([]time.Duration, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			resp, err := bc.docker.ContainerCreate(ctx, cfg, hc, nil, nil, fmt.Sprintf("ecs-bench-%s-%d", bc.name, i))
			if err == nil {
				err = bc.docker.ContainerStart(ctx, resp.ID, container.StartOptions{})
			}
			each[i] = time.Since(t0)
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	total := time.Since(began)
	close(errs)
	for err := range errs {
		b.Fatalf("Docker alone: %v", err)
	}
	return each, total
}

func (bc *benchCluster) removeDockerAlone(b *testing.B) {
	ids := containersWithLabel(b, "ecs-agent-bench", bc.name)
	if len(ids) > 0 {
		if err := dockerCmd(append([]string{"rm", "-f"}, ids...)...); err != nil {
			b.Log(err)
		}
	}
}

// BenchmarkE2ETaskStartOverhead measures what the agent adds to starting a
// task, one task at a time: from the payload's arrival (the agent's first log
// record naming the task) to its RUNNING state change being accepted by the
// control plane, against Docker alone creating and starting the same
// container. It also reports RunTask to RUNNING as a user sees it.
func BenchmarkE2ETaskStartOverhead(b *testing.B) {
	bc := startBenchCluster(b)
	ctx := context.Background()
	for b.Loop() {
		warm, err := bc.run(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		bc.awaitRunning(b, warm, time.Minute)
		cfg, hc := bc.template(b, warm[0])
		dockerEach, _ := bc.dockerAlone(b, cfg, hc, benchOverheadTasks, 1)
		bc.removeDockerAlone(b)

		var userSeen []time.Duration
		var arns []string
		for range benchOverheadTasks {
			t0 := time.Now()
			arn, err := bc.run(ctx, 1)
			if err != nil {
				b.Fatal(err)
			}
			at := bc.awaitRunningLogged(b, arn, time.Minute)
			userSeen = append(userSeen, at[arn[0]].Sub(t0))
			arns = append(arns, arn...)
		}
		bc.awaitRunning(b, arns, time.Minute) // what the agent reported, DescribeTasks shows
		agentEach, phases := agentStartTimes(b, bc.agent, arns)
		for name, ds := range phases {
			b.ReportMetric(ms(percentile(ds, 50)), "phase-"+name+"-p50-ms")
		}
		dp50, dp95 := percentile(dockerEach, 50), percentile(dockerEach, 95)
		ap50, ap95 := percentile(agentEach, 50), percentile(agentEach, 95)
		b.ReportMetric(ms(ap50-dp50), "overhead-p50-ms")
		b.ReportMetric(ms(ap95-dp95), "overhead-p95-ms")
		b.ReportMetric(ms(ap50), "agent-payload-to-running-p50-ms")
		b.ReportMetric(ms(ap95), "agent-payload-to-running-p95-ms")
		b.ReportMetric(ms(dp50), "docker-create-start-p50-ms")
		b.ReportMetric(ms(dp95), "docker-create-start-p95-ms")
		b.ReportMetric(ms(percentile(userSeen, 50)), "runtask-to-running-p50-ms")
		b.ReportMetric(ms(percentile(userSeen, 95)), "runtask-to-running-p95-ms")
		b.ReportMetric(loadAverage(b), "host-load1")
	}
}

// BenchmarkE2ETaskBurst delivers 100 single-container tasks at once (ten
// RunTask calls of ten) and measures the time until all are RUNNING, against
// Docker alone starting 100 containers with the agent's default concurrency
// (ECS_MAX_CONCURRENT_STARTS = 4 × CPUs). It also reports the agent's RSS and
// CPU, idle and with the 100 tasks running.
func BenchmarkE2ETaskBurst(b *testing.B) {
	bc := startBenchCluster(b)
	ctx := context.Background()
	for b.Loop() {
		idle := sampleUsage(b, bc.agent.proc.cmd.Process.Pid, benchUsageWindow)

		warm, err := bc.run(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		bc.awaitRunning(b, warm, time.Minute)
		cfg, hc := bc.template(b, warm[0])
		_, dockerTotal := bc.dockerAlone(b, cfg, hc, benchBurstTasks, 4*runtime.NumCPU())
		bc.removeDockerAlone(b)

		began := time.Now()
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
		var last time.Time
		for _, at := range bc.awaitRunningLogged(b, arns, 5*time.Minute) {
			if at.After(last) {
				last = at
			}
		}
		burst := last.Sub(began)
		bc.awaitRunning(b, arns, time.Minute) // what the agent reported, DescribeTasks shows
		loaded := sampleUsage(b, bc.agent.proc.cmd.Process.Pid, benchUsageWindow)

		b.ReportMetric(burst.Seconds(), "burst-100-s")
		b.ReportMetric(dockerTotal.Seconds(), "docker-alone-100-s")
		b.ReportMetric(burst.Seconds()/dockerTotal.Seconds(), "burst-vs-docker-x")
		b.ReportMetric(idle.rssMiB, "idle-RSS-MiB")
		b.ReportMetric(idle.cpuPercent, "idle-CPU-%")
		b.ReportMetric(loaded.rssMiB, "100-tasks-RSS-MiB")
		b.ReportMetric(loaded.cpuPercent, "100-tasks-CPU-%")
		b.ReportMetric(loadAverage(b), "host-load1")
	}
}

// agentStartTimes reads the agent's log: for each task, the time from the
// engine taking the payload's task ("task added", the first record naming
// it) to the record of its RUNNING state change being accepted; and the
// phases in between, for finding where the time goes.
func agentStartTimes(b *testing.B, a *agent, arns []string) (total []time.Duration, phases map[string][]time.Duration) {
	b.Helper()
	times := agentLogTimes(a.proc.out.String(), arns)
	phases = map[string][]time.Duration{}
	steps := []struct{ key, label string }{
		{logAdded, "added"}, {"known=PULLED", "pulled"}, {"known=CREATED", "created"},
		{"known=RUNNING", "running"}, {"submitted=RUNNING", "submitted"},
	}
	for _, arn := range arns {
		m := times[arn]
		for i, step := range steps {
			if _, ok := m[step.key]; !ok {
				b.Fatalf("the agent's log has no %s record for %s", step.key, arn)
			}
			if i > 0 {
				prev := steps[i-1]
				name := prev.label + "-to-" + step.label
				phases[name] = append(phases[name], m[step.key].Sub(m[prev.key]))
			}
		}
		total = append(total, m["submitted=RUNNING"].Sub(m[logAdded]))
	}
	return total, phases
}

// logAdded is the key of a task's first record in agentLogTimes.
const logAdded = "first=added"

// agentLogTimes finds, for each task of arns, the time of the first log
// record naming it (logAdded), of each known status ("known=RUNNING") and
// of each accepted state change ("submitted=RUNNING").
func agentLogTimes(log string, arns []string) map[string]map[string]time.Time {
	times := make(map[string]map[string]time.Time, len(arns))
	for _, arn := range arns {
		times[arn] = map[string]time.Time{}
	}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		arn := logField(line, "task")
		m, ok := times[arn]
		if !ok {
			continue
		}
		ts, ok := logTime(line)
		if !ok {
			continue
		}
		key := ""
		switch {
		case strings.Contains(line, "submitted task state change"):
			key = "submitted=" + logField(line, "status")
		case strings.Contains(line, `msg="task status"`):
			key = "known=" + logField(line, "knownStatus")
		}
		for _, k := range []string{logAdded, key} {
			if _, seen := m[k]; k != "" && !seen {
				m[k] = ts
			}
		}
	}
	return times
}

// logField is the value of key= in a slog text record (unquoted values only).
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v, _, _ := strings.Cut(line[i+len(key)+2:], " ")
	return v
}

// logTime parses the time= field of a slog text record.
func logTime(line string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(line, "time=")
	if !ok {
		return time.Time{}, false
	}
	field, _, _ := strings.Cut(rest, " ")
	ts, err := time.Parse(time.RFC3339Nano, field)
	return ts, err == nil
}

type usage struct{ rssMiB, cpuPercent float64 }

// sampleUsage measures a process's CPU (user+system, percent of one core)
// over window and its resident memory at the end.
func sampleUsage(b *testing.B, pid int, window time.Duration) usage {
	b.Helper()
	t0, c0 := time.Now(), cpuTicks(b, pid)
	time.Sleep(window) // the measurement window itself
	t1, c1 := time.Now(), cpuTicks(b, pid)
	const ticksPerSecond = 100 // USER_HZ on Linux
	cpu := float64(c1-c0) / ticksPerSecond / t1.Sub(t0).Seconds() * 100
	return usage{rssMiB: float64(vmRSSKB(b, pid)) / 1024, cpuPercent: cpu}
}

// cpuTicks is utime+stime of a process, in clock ticks, from /proc/<pid>/stat.
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	// The command name may hold spaces; the fields after ")" start at field 3 (state).
	_, rest, _ := strings.Cut(string(stat), ") ")
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		b.Fatalf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat utime/stime: %v %v", pid, err1, err2)
	}
	return utime + stime
}

// loadAverage is the host's one-minute load average: the benchmarks report
// it because a busy machine slows Docker and the agent alike.
func loadAverage(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		b.Fatal(err)
	}
	load, err := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	if err != nil {
		b.Fatal(err)
	}
	return load
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100
	return s[max(0, min(i, len(s))-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
