package runtime

import (
	"context"
	"encoding/json"
	"time"
)

// Stats is what the stats collector (agent/stats) needs from a container
// runtime: Docker's stats API, streaming or one sample at a time. It is not
// part of Runtime because the task engine never reads stats. engine/dockerapi
// and engine/enginetest's fake implement it and pass RunStatsConformance.
type Stats interface {
	// StreamStats calls fn with each sample of container id (the engine
	// takes one about every second; an adapter may deliver them in bursts,
	// in order, as Docker's does every few seconds) until ctx ends (nil) or the stream breaks (its error; ErrNotFound for
	// an unknown container). fn runs on the caller's goroutine, so a stream
	// costs no goroutine of its own; the sample's Raw is only valid during
	// the call (the stream reuses its buffer): copy what is kept.
	StreamStats(ctx context.Context, id string, fn func(ContainerStats)) error
	// StatsOnce returns one sample of container id without waiting for a
	// second one (ErrNotFound).
	StatsOnce(ctx context.Context, id string) (ContainerStats, error)
}

// ContainerStats is one sample of a container's resource use. Counters are
// cumulative since the container started; consumers compute rates from the
// difference between two samples.
type ContainerStats struct {
	// Read is when the engine took the sample.
	Read time.Time
	// CPUUsage is the CPU time the container used, in nanoseconds over all
	// CPUs (cpu_stats.cpu_usage.total_usage).
	CPUUsage uint64
	// SystemCPUUsage is the host's CPU time, in nanoseconds over all CPUs
	// (cpu_stats.system_cpu_usage); 0 when the engine does not report it.
	SystemCPUUsage uint64
	// OnlineCPUs is the number of CPUs the host has online.
	OnlineCPUs uint32
	// MemoryUsage is the container's working set in bytes: usage less the
	// inactive page cache, as `docker stats` shows it.
	MemoryUsage uint64
	// MemoryLimit is the memory limit in bytes (the host's memory if none).
	MemoryLimit uint64
	// Network sums the counters of every interface of the container.
	Network NetworkStats
	// DiskReadBytes and DiskWriteBytes sum the block I/O of every device.
	DiskReadBytes, DiskWriteBytes uint64
	// Raw is the sample as the engine sent it (Docker's stats JSON), for the
	// task metadata endpoint's /stats routes, which serve that shape.
	Raw json.RawMessage
}

// NetworkStats are cumulative network counters.
type NetworkStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}
