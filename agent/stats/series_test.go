package stats

import (
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// sample builds a cumulative sample at t0+sec.
func sample(sec float64, cpuMs, memBytes, rx, tx, read, write uint64) runtime.ContainerStats {
	return runtime.ContainerStats{
		Read:           t0.Add(time.Duration(sec * float64(time.Second))),
		CPUUsage:       cpuMs * uint64(time.Millisecond),
		MemoryUsage:    memBytes,
		Network:        runtime.NetworkStats{RxBytes: rx, TxBytes: tx, RxPackets: rx / 100, TxPackets: tx / 100},
		DiskReadBytes:  read,
		DiskWriteBytes: write,
	}
}

func TestStatsSets(t *testing.T) {
	s := newSeries(10)
	s.add(sample(0, 0, 10<<20, 0, 0, 0, 0))
	s.add(sample(1, 500, 10<<20+5, 1000, 200, 4096, 0))    // half a CPU; 10 MiB and 5 bytes
	s.add(sample(2, 2500, 12<<20, 1500, 200, 4096, 8192))  // two full CPUs
	s.add(sample(4, 2500, 11<<20, 1500, 1200, 4096, 8192)) // idle for 2 s
	m, ok := s.metric(0)
	require.True(t, ok)

	assert.Equal(t, &wire.CWStatsSet{Min: 0, Max: 200, Sum: 250, SampleCount: 3}, m.CPUStatsSet,
		"CPU %% = 100 × CPU time / wall time: 50, 200 (two CPUs) and 0")
	assert.Equal(t, &wire.CWStatsSet{Min: 10, Max: 12, Sum: 33, SampleCount: 3}, m.MemoryStatsSet,
		"memory in whole MiB")
	assert.Equal(t, &wire.ULongStatsSet{Min: 0, Max: 1000, Sum: 1500, SampleCount: 3}, m.NetworkStatsSet.RxBytes,
		"bytes received in each interval")
	assert.Equal(t, &wire.ULongStatsSet{Min: 0, Max: 1000, Sum: 1200, SampleCount: 3}, m.NetworkStatsSet.TxBytes)
	assert.Equal(t, &wire.ULongStatsSet{Min: 0, Max: 10, Sum: 15, SampleCount: 3}, m.NetworkStatsSet.RxPackets)
	assert.Equal(t, &wire.UDoubleCWStatsSet{Min: 0, Max: 1000, Sum: 1500, SampleCount: 3}, m.NetworkStatsSet.RxBytesPerSecond)
	assert.Equal(t, &wire.UDoubleCWStatsSet{Min: 0, Max: 500, Sum: 700, SampleCount: 3}, m.NetworkStatsSet.TxBytesPerSecond,
		"1000 bytes over 2 s is 500 a second")
	assert.Equal(t, &wire.ULongStatsSet{Min: 0, Max: 4096, Sum: 4096, SampleCount: 3}, m.StorageStatsSet.ReadSizeBytes)
	assert.Equal(t, &wire.ULongStatsSet{Min: 0, Max: 8192, Sum: 8192, SampleCount: 3}, m.StorageStatsSet.WriteSizeBytes)
	assert.Nil(t, m.RestartStatsSet, "a container that never restarted has no restart set")
}

func TestStatsSetsNeedTwoSamples(t *testing.T) {
	s := newSeries(10)
	_, ok := s.metric(0)
	assert.False(t, ok, "no sample")
	s.add(sample(0, 0, 1<<20, 0, 0, 0, 0))
	_, ok = s.metric(0)
	assert.False(t, ok, "one sample has no interval")
	s.add(sample(1, 10, 1<<20, 0, 0, 0, 0))
	m, ok := s.metric(0)
	require.True(t, ok)
	assert.Equal(t, 1, m.CPUStatsSet.SampleCount)
}

// Each publish covers only what the previous one did not.
func TestStatsSetsOverUnsentPoints(t *testing.T) {
	s := newSeries(10)
	for i := range 4 {
		s.add(sample(float64(i), uint64(i)*100, 1<<20, 0, 0, 0, 0))
	}
	m, ok := s.metric(0)
	require.True(t, ok)
	assert.Equal(t, 3, m.CPUStatsSet.SampleCount)
	_, ok = s.metric(0)
	assert.False(t, ok, "everything was sent")

	s.add(sample(4, 1300, 1<<20, 0, 0, 0, 0)) // one CPU for that second
	m, ok = s.metric(0)
	require.True(t, ok)
	assert.Equal(t, &wire.CWStatsSet{Min: 100, Max: 100, Sum: 100, SampleCount: 1}, m.CPUStatsSet)
}

func TestSeriesIsBounded(t *testing.T) {
	s := newSeries(4)
	for i := range 20 {
		s.add(sample(float64(i), uint64(i)*10, uint64(i)<<20, 0, 0, 0, 0))
	}
	assert.Equal(t, 4, s.n)
	pts := s.unsentPoints()
	require.Len(t, pts, 4, "never more than the capacity, however long nobody publishes")
	assert.Equal(t, uint32(16), pts[0].memoryMiB, "the newest points are kept")
	assert.Equal(t, uint32(19), pts[3].memoryMiB)
}

func TestSeriesDropsStaleAndResetCounters(t *testing.T) {
	s := newSeries(10)
	s.add(sample(5, 1000, 1<<20, 5000, 0, 0, 0))
	s.add(sample(5, 2000, 1<<20, 6000, 0, 0, 0)) // same read time: dropped
	s.add(sample(4, 3000, 1<<20, 7000, 0, 0, 0)) // older: dropped
	assert.Zero(t, s.n)
	s.add(sample(6, 200, 1<<20, 300, 0, 0, 0)) // the container restarted: counters start again
	m, ok := s.metric(0)
	require.True(t, ok)
	assert.InDelta(t, 20.0, m.CPUStatsSet.Sum, 1e-9, "a counter that went back counts from zero")
	assert.Equal(t, int64(300), m.NetworkStatsSet.RxBytes.Sum)
	assert.Equal(t, t0.Add(6*time.Second), s.last.Read)
}

func TestRestartCountsSinceLastPublish(t *testing.T) {
	s := newSeries(10)
	s.add(sample(0, 0, 1<<20, 0, 0, 0, 0))
	s.add(sample(1, 0, 1<<20, 0, 0, 0, 0))
	m, _ := s.metric(2)
	assert.Equal(t, &wire.RestartStatsSet{RestartCount: 2}, m.RestartStatsSet)
	s.add(sample(2, 0, 1<<20, 0, 0, 0, 0))
	m, _ = s.metric(2)
	assert.Equal(t, &wire.RestartStatsSet{RestartCount: 0}, m.RestartStatsSet, "no restart since")
	s.add(sample(3, 0, 1<<20, 0, 0, 0, 0))
	m, _ = s.metric(3)
	assert.Equal(t, &wire.RestartStatsSet{RestartCount: 1}, m.RestartStatsSet)
}

func TestPointIsSmall(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(point{}), uintptr(72), "8,000 points for 100 containers")
}

// Packet counters saturate rather than wrap.
func TestPointSaturates(t *testing.T) {
	prev := sample(0, 0, 1<<20, 0, 0, 0, 0)
	cur := sample(1, 0, 1<<20, 0, 0, 0, 0)
	cur.Network.RxPackets = 1 << 40
	p, ok := newPoint(prev, cur)
	require.True(t, ok)
	assert.Equal(t, uint32(math.MaxUint32), p.packets[packetsRx])
}

func TestULongSetOverflow(t *testing.T) {
	big := uint64(maxLong) + 10
	set := ulongSet([]point{{diskRead: big}, {diskRead: 5}}, func(p point) uint64 { return p.diskRead })
	assert.Equal(t, &wire.ULongStatsSet{
		Min: 5, Max: maxLong, OverflowMax: 10, Sum: maxLong, OverflowSum: 15, SampleCount: 2,
	}, set)
}
