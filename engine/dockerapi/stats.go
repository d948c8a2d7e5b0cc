package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Proves the adapter serves the stats collector too.
var _ runtime.Stats = (*Client)(nil)

// StreamStats streams Docker's stats of container id (about one sample a
// second) until ctx ends or the stream breaks. Samples with no read time
// (Docker's placeholder for a container that is not running) are skipped.
func (c *Client) StreamStats(ctx context.Context, id string) (<-chan runtime.ContainerStats, <-chan error) {
	out := make(chan runtime.ContainerStats)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		defer close(errc)
		errc <- c.streamStats(ctx, id, out)
	}()
	return out, errc
}

func (c *Client) streamStats(ctx context.Context, id string, out chan<- runtime.ContainerStats) error {
	resp, err := c.c.ContainerStats(ctx, id, true)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("docker stats %s: %w", id, classify(err, false))
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("docker stats %s: the engine ended the stream", id)
			}
			return fmt.Errorf("docker stats %s: %w", id, err)
		}
		s, err := statsFrom(raw)
		if err != nil {
			return fmt.Errorf("docker stats %s: %w", id, err)
		}
		if s.Read.IsZero() {
			continue
		}
		select {
		case out <- s:
		case <-ctx.Done():
			return nil
		}
	}
}

// StatsOnce returns one sample of container id, without the second sample
// Docker otherwise waits for to fill precpu_stats (the collector computes
// its own differences).
func (c *Client) StatsOnce(ctx context.Context, id string) (runtime.ContainerStats, error) {
	resp, err := c.c.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("docker stats %s: %w", id, classify(err, false))
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("docker stats %s: %w", id, err)
	}
	s, err := statsFrom(raw)
	if err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("docker stats %s: %w", id, err)
	}
	return s, nil
}

// statsFrom converts one Docker stats JSON object, keeping it as Raw.
func statsFrom(raw json.RawMessage) (runtime.ContainerStats, error) {
	var r container.StatsResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("decode sample: %w", err)
	}
	s := runtime.ContainerStats{
		Read:           r.Read,
		CPUUsage:       r.CPUStats.CPUUsage.TotalUsage,
		SystemCPUUsage: r.CPUStats.SystemUsage,
		OnlineCPUs:     r.CPUStats.OnlineCPUs,
		MemoryUsage:    workingSet(r.MemoryStats),
		MemoryLimit:    r.MemoryStats.Limit,
		Raw:            raw,
	}
	for _, n := range r.Networks {
		s.Network.RxBytes += n.RxBytes
		s.Network.RxPackets += n.RxPackets
		s.Network.RxErrors += n.RxErrors
		s.Network.RxDropped += n.RxDropped
		s.Network.TxBytes += n.TxBytes
		s.Network.TxPackets += n.TxPackets
		s.Network.TxErrors += n.TxErrors
		s.Network.TxDropped += n.TxDropped
	}
	for _, e := range r.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) { // cgroup v1 says "Read", v2 "read"
		case "read":
			s.DiskReadBytes += e.Value
		case "write":
			s.DiskWriteBytes += e.Value
		}
	}
	return s, nil
}

// workingSet is memory usage less the inactive page cache, which the kernel
// reclaims first: what `docker stats` shows. cgroup v1 names the counter
// total_inactive_file, v2 inactive_file.
func workingSet(m container.MemoryStats) uint64 {
	inactive, ok := m.Stats["total_inactive_file"]
	if !ok {
		inactive = m.Stats["inactive_file"]
	}
	if inactive > m.Usage {
		return 0
	}
	return m.Usage - inactive
}
