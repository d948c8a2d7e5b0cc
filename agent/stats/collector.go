// Package stats is the agent's one collector of container stats. It learns
// which containers run from the task engine's snapshots, reads Docker's
// stats API for each (a stream by default, a poll with ECS_POLL_METRICS),
// and keeps a bounded ring of derived points per container. Two readers use
// it: TCS takes stats sets over the points it has not sent yet
// (TaskMetrics), and the task metadata endpoint's /stats routes take the
// latest Docker-shaped sample (Latest).
//
// The collector's Run goroutine owns the set of watched containers; each
// watch is one goroutine that feeds samples in. Readers take the mutex only
// to copy or derive, never while calling Docker.
package stats

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Defaults (reference §6).
const (
	// DefaultPollInterval is ECS_POLLING_METRICS_WAIT_DURATION's default.
	DefaultPollInterval = 10 * time.Second
	// DefaultRefreshInterval is how often the watched set follows the
	// engine's snapshots: a new container's first samples are at most this
	// late.
	DefaultRefreshInterval = 5 * time.Second
	// DefaultCapacity holds four 20 s publish intervals of 1 Hz samples.
	DefaultCapacity = 80
	// streamInactivity restarts a stream that sent nothing for this long.
	streamInactivity = 18 * time.Second
)

// Tasks is what the collector reads from the task engine.
type Tasks interface {
	Snapshot() []engine.TaskSnapshot
}

// Options configure a Collector. Zero durations mean the defaults.
type Options struct {
	Runtime runtime.Stats
	Tasks   Tasks
	// Cluster is sent as each task metric's clusterArn.
	Cluster string
	// Poll reads one sample every PollInterval instead of streaming.
	Poll            bool
	PollInterval    time.Duration
	RefreshInterval time.Duration
	Capacity        int // points kept per container
	Logger          *slog.Logger
}

// Collector is the stats collector. Create it with New and Run it once.
type Collector struct {
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	series map[string]*series // by Docker ID, for the containers watched now
	tasks  []engine.TaskSnapshot
}

// New fills in defaults; it does not start watching.
func New(o Options) *Collector {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.Capacity < 2 {
		o.Capacity = DefaultCapacity
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{o: o, log: logger.With(logging.KeyComponent, "stats"), series: make(map[string]*series)}
}

// Run follows the engine's snapshots until ctx ends, starting a watch for
// every running container and stopping the watches of containers that are
// gone. It returns nil when ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	watches := make(map[string]context.CancelFunc)
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range watches {
			cancel()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(c.o.RefreshInterval)
	defer tick.Stop()
	for {
		running := c.refresh()
		for id := range running {
			if _, ok := watches[id]; ok {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			watches[id] = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.watch(wctx, id)
			}()
		}
		for id, cancel := range watches {
			if !running[id] {
				cancel()
				delete(watches, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// refresh takes a new snapshot, keeps the series of running containers and
// drops the others. It returns the running containers' Docker IDs.
func (c *Collector) refresh() map[string]bool {
	snap := c.o.Tasks.Snapshot()
	running := make(map[string]bool)
	for _, t := range snap {
		for _, ct := range t.Containers {
			if ct.DockerID != "" && ct.KnownStatus == engine.StatusRunning {
				running[ct.DockerID] = true
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tasks = snap
	for id := range c.series {
		if !running[id] {
			delete(c.series, id)
		}
	}
	for id := range running {
		if c.series[id] == nil {
			c.series[id] = newSeries(c.o.Capacity)
		}
	}
	return running
}

// add records a sample of container id, if it is still watched. s.Raw is
// copied (into the series' own buffer): a stream reuses its own.
func (c *Collector) add(id string, s runtime.ContainerStats) {
	if s.Read.IsZero() {
		return // Docker's placeholder for a container that is not running
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if se := c.series[id]; se != nil {
		se.add(s)
	}
}

// Latest returns the newest sample of a running container by Docker ID,
// with Raw holding Docker's JSON, for the task metadata /stats routes.
func (c *Collector) Latest(dockerID string) (runtime.ContainerStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	se := c.series[dockerID]
	if se == nil || !se.hasLast {
		return runtime.ContainerStats{}, false
	}
	out := se.last
	out.Raw = bytes.Clone(se.last.Raw) // the series reuses its buffer
	return out, true
}

// TaskMetrics returns, for every task with at least one container that has
// unsent points, the stats sets over those points, and marks them sent. Tasks
// follow the snapshot's order (by ARN), containers the task's.
func (c *Collector) TaskMetrics() []wire.TaskMetric {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wire.TaskMetric
	for _, t := range c.tasks {
		var cms []wire.ContainerMetric
		for _, ct := range t.Containers {
			se := c.series[ct.DockerID]
			if se == nil || ct.DockerID == "" {
				continue
			}
			m, ok := se.metric(ct.RestartCount)
			if !ok {
				continue
			}
			m.ContainerName = ct.Name
			cms = append(cms, m)
		}
		if len(cms) == 0 {
			continue
		}
		out = append(out, wire.TaskMetric{
			TaskARN:               t.ARN,
			ClusterARN:            c.o.Cluster,
			TaskDefinitionFamily:  t.Family,
			TaskDefinitionVersion: t.Version,
			ContainerMetrics:      cms,
		})
	}
	return out
}
