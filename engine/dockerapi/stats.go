package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Proves the adapter serves the stats collector too.
var _ runtime.Stats = (*Client)(nil)

// StreamStats reads Docker's stats stream of container id (about one
// sample a second) until ctx ends or the stream breaks, calling fn with each
// sample. Samples with no read time (Docker's placeholder for a container
// that is not running) are skipped. Docker writes one JSON object per line;
// the stream is read by lines into one reused buffer (no json.Decoder, no
// bufio.Reader of its own), on a connection of its own (newStreamClient),
// in bursts every StatsReadEvery (pacedConn).
func (c *Client) StreamStats(ctx context.Context, id string, fn func(runtime.ContainerStats)) error {
	resp, err := c.stream.ContainerStats(ctx, id, true)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("docker stats %s: %w", id, classify(err, false))
	}
	defer resp.Body.Close()
	lines := lineReader{r: resp.Body, buf: make([]byte, 0, statsLineBuffer)}
	for {
		raw, err := lines.next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("docker stats %s: the engine ended the stream", id)
			}
			return fmt.Errorf("docker stats %s: %w", id, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		s, err := statsFrom(raw)
		if err != nil {
			return fmt.Errorf("docker stats %s: %w", id, err)
		}
		if !s.Read.IsZero() {
			fn(s)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// statsLineBuffer holds a typical sample (2–4 KB); longer lines grow it,
// up to maxStatsLine.
const (
	statsLineBuffer = 4096
	maxStatsLine    = 1 << 20
)

// lineReader splits a stream into lines in one buffer. Docker writes a
// sample per chunk, so a read usually ends exactly at a newline and
// nothing is ever moved.
type lineReader struct {
	r     io.Reader
	buf   []byte // buf[start:] is read and not yet returned
	start int
}

// next returns the next line without its newline, valid until the next
// call. A stream that ends mid-line returns io.ErrUnexpectedEOF, one that
// ends between lines io.EOF.
func (l *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:], '\n'); i >= 0 {
			line := l.buf[l.start : l.start+i]
			l.start += i + 1
			return line, nil
		}
		// Keep the partial line at the front, with room to read.
		n := copy(l.buf, l.buf[l.start:])
		l.buf, l.start = l.buf[:n], 0
		if n >= maxStatsLine {
			return nil, fmt.Errorf("a sample longer than %d bytes", maxStatsLine)
		}
		if n == cap(l.buf) {
			l.buf = slices.Grow(l.buf, n)
		}
		m, err := l.r.Read(l.buf[n:cap(l.buf)])
		l.buf = l.buf[:n+m]
		if err != nil && m == 0 {
			if errors.Is(err, io.EOF) && n > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
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

// statsJSON is the part of Docker's stats object the agent reads. Decoding
// only these members (not precpu_stats, per-CPU usage, the other block I/O
// tables or the memory.stat map) is most of the collector's CPU and garbage
// saved: a host with 100 containers decodes 100 of these a second.
type statsJSON struct {
	Read     time.Time `json:"read"`
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
		OnlineCPUs  uint32 `json:"online_cpus"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage uint64 `json:"usage"`
		Limit uint64 `json:"limit"`
		Stats struct {
			TotalInactiveFile *uint64 `json:"total_inactive_file"` // cgroup v1
			InactiveFile      *uint64 `json:"inactive_file"`       // cgroup v2
		} `json:"stats"`
	} `json:"memory_stats"`
	Networks   map[string]networkJSON `json:"networks"`
	BlkioStats struct {
		IoServiceBytesRecursive []struct {
			Op    string `json:"op"`
			Value uint64 `json:"value"`
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
}

// networkJSON is the part of one interface's counters the agent reads.
type networkJSON struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// statsFrom converts one Docker stats JSON object, keeping it as Raw.
// scanStats answers for Docker's samples; encoding/json decides the rest.
func statsFrom(raw json.RawMessage) (runtime.ContainerStats, error) {
	if s, ok := scanStats(raw); ok {
		return s, nil
	}
	return decodeStats(raw)
}

// decodeStats is statsFrom by encoding/json: the reference scanStats is
// fuzzed against.
func decodeStats(raw json.RawMessage) (runtime.ContainerStats, error) {
	var r statsJSON
	if err := json.Unmarshal(raw, &r); err != nil {
		return runtime.ContainerStats{}, fmt.Errorf("decode sample: %w", err)
	}
	s := runtime.ContainerStats{
		Read:           r.Read,
		CPUUsage:       r.CPUStats.CPUUsage.TotalUsage,
		SystemCPUUsage: r.CPUStats.SystemUsage,
		OnlineCPUs:     r.CPUStats.OnlineCPUs,
		MemoryUsage:    r.MemoryStats.Usage,
		MemoryLimit:    r.MemoryStats.Limit,
		Raw:            raw,
	}
	// The working set: usage less the inactive page cache, which the kernel
	// reclaims first; what `docker stats` shows.
	inactive := r.MemoryStats.Stats.TotalInactiveFile
	if inactive == nil {
		inactive = r.MemoryStats.Stats.InactiveFile
	}
	if inactive != nil {
		s.MemoryUsage -= min(*inactive, s.MemoryUsage)
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
