package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Proves the fake serves the stats collector too.
var _ runtime.Stats = (*Fake)(nil)

// StatsInterval is how often the fake's StreamStats sends a sample, as
// Docker does.
const StatsInterval = time.Second

// Defaults of a sample nobody scripted: a container that uses 10 ms of CPU
// and moves 1 KiB each way per second, with a 4 MiB working set.
const (
	defaultCPUPerSample = uint64(10 * time.Millisecond)
	defaultMemory       = 4 << 20
	defaultNetPerSample = 1024
	fakeOnlineCPUs      = 2
)

// fakeStats is the fake's stats state; the Fake's mutex guards it.
type fakeStats struct {
	scripted map[string][]runtime.ContainerStats // container ID → samples to serve first
	last     map[string]runtime.ContainerStats   // container ID → the last sample served
}

// ScriptStats queues samples for container id (its full ID): StatsOnce and
// StreamStats serve them, in order, before generating their own. A sample
// with a zero Read time gets the fake's clock; Raw is filled in Docker's
// shape. Without a script, each sample adds 10 ms of CPU time and 1 KiB of
// network traffic each way to the previous one.
func (f *Fake) ScriptStats(id string, samples ...runtime.ContainerStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats.scripted == nil {
		f.stats.scripted = make(map[string][]runtime.ContainerStats)
	}
	f.stats.scripted[id] = append(f.stats.scripted[id], samples...)
}

// StatsOnce returns the next sample of a running container; a container
// that is not running gets Docker's placeholder, a sample with no Read time.
func (f *Fake) StatsOnce(ctx context.Context, id string) (runtime.ContainerStats, error) {
	if err := f.enter(ctx, "StatsOnce"); err != nil {
		return runtime.ContainerStats{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nextSample(id)
}

// StreamStats calls fn with a sample every StatsInterval while the
// container runs. Removing it ends the stream with ErrNotFound.
func (f *Fake) StreamStats(ctx context.Context, id string, fn func(runtime.ContainerStats)) error {
	if err := f.enter(ctx, "StreamStats"); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	tick := time.NewTicker(StatsInterval)
	defer tick.Stop()
	for {
		f.mu.Lock()
		s, err := f.nextSample(id)
		f.mu.Unlock()
		if err != nil {
			return err
		}
		if !s.Read.IsZero() { // skipped as the Docker adapter skips them
			fn(s)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// nextSample serves the next scripted sample of id or generates one. The
// caller holds f.mu.
func (f *Fake) nextSample(id string) (runtime.ContainerStats, error) {
	c := f.find(id)
	if c == nil {
		return runtime.ContainerStats{}, notFound("no such container: %s", id)
	}
	if c.c.State != runtime.StateRunning {
		return runtime.ContainerStats{}, nil // Docker's placeholder: all zero, no read time
	}
	id = c.c.ID
	if f.stats.last == nil {
		f.stats.last = make(map[string]runtime.ContainerStats)
	}
	var s runtime.ContainerStats
	if q := f.stats.scripted[id]; len(q) > 0 {
		s, f.stats.scripted[id] = q[0], q[1:]
	} else {
		s = f.stats.last[id]
		s.Raw = nil
		s.CPUUsage += defaultCPUPerSample
		s.SystemCPUUsage += uint64(StatsInterval) * fakeOnlineCPUs
		s.OnlineCPUs = fakeOnlineCPUs
		s.MemoryUsage, s.MemoryLimit = defaultMemory, 1<<30
		s.Network.RxBytes += defaultNetPerSample
		s.Network.TxBytes += defaultNetPerSample
		s.Network.RxPackets++
		s.Network.TxPackets++
		s.Read = time.Time{}
	}
	if s.Read.IsZero() {
		s.Read = f.now()
	}
	if s.Raw == nil {
		raw, err := dockerShape(id, s)
		if err != nil {
			return runtime.ContainerStats{}, err
		}
		s.Raw = raw
	}
	f.stats.last[id] = s
	return s, nil
}

// dockerShape writes s as Docker's stats JSON (the members the agent reads,
// with Docker's names), so that consumers of Raw see the engine's shape.
func dockerShape(id string, s runtime.ContainerStats) (json.RawMessage, error) {
	type usage struct {
		TotalUsage uint64 `json:"total_usage"`
	}
	type cpu struct {
		CPUUsage    usage  `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
		OnlineCPUs  uint32 `json:"online_cpus"`
	}
	type entry struct {
		Op    string `json:"op"`
		Value uint64 `json:"value"`
	}
	n := s.Network
	b, err := json.Marshal(map[string]any{
		"id":        id,
		"read":      s.Read,
		"cpu_stats": cpu{usage{s.CPUUsage}, s.SystemCPUUsage, s.OnlineCPUs},
		"memory_stats": map[string]any{
			"usage": s.MemoryUsage, "limit": s.MemoryLimit, "stats": map[string]uint64{"inactive_file": 0},
		},
		"networks": map[string]any{"eth0": map[string]uint64{
			"rx_bytes": n.RxBytes, "rx_packets": n.RxPackets, "rx_errors": n.RxErrors, "rx_dropped": n.RxDropped,
			"tx_bytes": n.TxBytes, "tx_packets": n.TxPackets, "tx_errors": n.TxErrors, "tx_dropped": n.TxDropped,
		}},
		"blkio_stats": map[string]any{"io_service_bytes_recursive": []entry{
			{"read", s.DiskReadBytes}, {"write", s.DiskWriteBytes},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("fake stats JSON: %w", err)
	}
	return b, nil
}
