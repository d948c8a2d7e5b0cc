package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/open-ecs/ecs-agent/engine"
)

// taskWatchInterval is how often the start-latency watch looks at the
// engine. The latencies come from the engine's own timestamps, so this only
// delays when they are recorded, not what they measure.
const taskWatchInterval = 5 * time.Second

// TaskSource is what the task metrics read from the engine.
type TaskSource interface {
	Snapshot() []engine.TaskSnapshot
	Reports() []engine.TaskReport
}

// Tasks exports ecs_agent_tasks{status} from the engine's snapshot at each
// scrape, and returns the loop that records each task's start latency by
// phase once it runs; the caller runs it under the supervisor.
func (m *Metrics) Tasks(src TaskSource) func(ctx context.Context) error {
	m.reg.MustRegister(&taskCollector{src: src, desc: prometheus.NewDesc(
		namespace+"_tasks", "Tasks the agent knows, by known status (PENDING, RUNNING, STOPPED).", []string{"status"}, nil)})
	return func(ctx context.Context) error {
		w := startWatch{m: m, src: src, done: make(map[string]bool)}
		tick := time.NewTicker(taskWatchInterval)
		defer tick.Stop()
		for {
			w.observe()
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}

// taskCollector counts tasks by status when scraped.
type taskCollector struct {
	src  TaskSource
	desc *prometheus.Desc
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{engine.StatusPending: 0, engine.StatusRunning: 0, engine.StatusStopped: 0}
	for _, t := range c.src.Snapshot() {
		counts[t.KnownStatus]++
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}

// startWatch records each task's start phases once, when it first runs.
type startWatch struct {
	m    *Metrics
	src  TaskSource
	done map[string]bool // tasks already recorded, or seen running at start
	init bool
}

func (w *startWatch) observe() {
	reports := make(map[string]engine.TaskReport)
	for _, r := range w.src.Reports() {
		reports[r.TaskARN] = r
	}
	seen := make(map[string]bool)
	for _, t := range w.src.Snapshot() {
		seen[t.ARN] = true
		if w.done[t.ARN] || t.KnownStatus != engine.StatusRunning {
			continue
		}
		w.done[t.ARN] = true
		if !w.init {
			continue // running before the agent (re)started: its start was not watched
		}
		for phase, d := range startPhases(t, reports[t.ARN]) {
			w.m.taskStart.WithLabelValues(phase).Observe(d.Seconds())
		}
	}
	w.init = true
	for arn := range w.done {
		if !seen[arn] {
			delete(w.done, arn)
		}
	}
}

// startPhases derives a running task's phases from the engine's
// timestamps: pull from the report's pull times; create from the end of
// the pulls to the last container's creation; start from there to the last
// container's start. A phase without both ends is left out.
func startPhases(t engine.TaskSnapshot, r engine.TaskReport) map[string]time.Duration {
	var created, started time.Time
	for _, c := range t.Containers {
		if c.CreatedAt.After(created) {
			created = c.CreatedAt
		}
		if c.StartedAt.After(started) {
			started = c.StartedAt
		}
	}
	out := make(map[string]time.Duration)
	if r.PullStartedAt != nil && r.PullStoppedAt != nil && !r.PullStoppedAt.Before(*r.PullStartedAt) {
		out["pull"] = r.PullStoppedAt.Sub(*r.PullStartedAt)
		if !created.IsZero() && !created.Before(*r.PullStoppedAt) {
			out["create"] = created.Sub(*r.PullStoppedAt)
		}
	}
	if !created.IsZero() && !started.IsZero() && !started.Before(created) {
		out["start"] = started.Sub(created)
	}
	return out
}
