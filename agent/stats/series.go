package stats

import (
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const bytesInMiB = 1 << 20

// point is what one sample adds to a container's series: values derived
// from it and the sample before it.
type point struct {
	read time.Time
	// cpuPercent is 100 × CPU time used / wall time elapsed between the two
	// samples: 100 is one full CPU, and a container busy on 4 CPUs reaches
	// 400. That is the incumbent's definition (reference §6), which TCS and
	// ECS's CPUUtilization expect; Docker CLI's percentage of the whole host
	// would shrink with the host's size.
	cpuPercent float64
	// memoryMiB is the working set in whole MiB, as the incumbent sends it.
	memoryMiB float64
	// net, diskRead, diskWrite are counter increases since the previous
	// sample; a counter that went back (the container restarted, its cgroup
	// is new) counts from zero.
	net                 runtime.NetworkStats
	diskRead, diskWrite uint64
	// rxPerSec, txPerSec are bytes a second over the interval.
	rxPerSec, txPerSec float64
}

// newPoint derives the point of cur from the sample before it. ok is false
// when cur is not newer than prev.
func newPoint(prev, cur runtime.ContainerStats) (point, bool) {
	elapsed := cur.Read.Sub(prev.Read)
	if elapsed <= 0 {
		return point{}, false
	}
	secs := elapsed.Seconds()
	p := point{
		read:       cur.Read,
		cpuPercent: 100 * float64(delta(prev.CPUUsage, cur.CPUUsage)) / float64(elapsed.Nanoseconds()),
		memoryMiB:  float64(cur.MemoryUsage / bytesInMiB),
		net: runtime.NetworkStats{
			RxBytes:   delta(prev.Network.RxBytes, cur.Network.RxBytes),
			RxPackets: delta(prev.Network.RxPackets, cur.Network.RxPackets),
			RxErrors:  delta(prev.Network.RxErrors, cur.Network.RxErrors),
			RxDropped: delta(prev.Network.RxDropped, cur.Network.RxDropped),
			TxBytes:   delta(prev.Network.TxBytes, cur.Network.TxBytes),
			TxPackets: delta(prev.Network.TxPackets, cur.Network.TxPackets),
			TxErrors:  delta(prev.Network.TxErrors, cur.Network.TxErrors),
			TxDropped: delta(prev.Network.TxDropped, cur.Network.TxDropped),
		},
		diskRead:  delta(prev.DiskReadBytes, cur.DiskReadBytes),
		diskWrite: delta(prev.DiskWriteBytes, cur.DiskWriteBytes),
	}
	p.rxPerSec = float64(p.net.RxBytes) / secs
	p.txPerSec = float64(p.net.TxBytes) / secs
	return p, true
}

// delta is the increase of a cumulative counter; a counter that went back
// was reset, and counts from zero.
func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// series is one container's bounded history: a ring of points, how many of
// the newest are not yet sent to TCS, and the latest raw sample.
type series struct {
	ring   []point // capacity fixed at creation
	start  int     // index of the oldest point
	n      int     // points held
	unsent int     // newest points not yet in a published stats set

	last    runtime.ContainerStats // the latest sample; its Raw is raw
	hasLast bool
	raw     []byte // the latest sample's JSON, in a buffer reused sample after sample

	restartsSent int // restart count at the last publish
}

func newSeries(capacity int) *series {
	return &series{ring: make([]point, capacity)}
}

// add records a sample, copying its Raw. Out-of-order or repeated samples
// are dropped.
func (s *series) add(cur runtime.ContainerStats) {
	if !s.hasLast {
		s.keep(cur)
		return
	}
	p, ok := newPoint(s.last, cur)
	if !ok {
		return
	}
	s.keep(cur)
	if s.n < len(s.ring) {
		s.ring[(s.start+s.n)%len(s.ring)] = p
		s.n++
	} else { // full: the oldest point goes
		s.ring[s.start] = p
		s.start = (s.start + 1) % len(s.ring)
	}
	s.unsent = min(s.unsent+1, s.n)
}

// keep makes cur the latest sample, its JSON copied into s.raw.
func (s *series) keep(cur runtime.ContainerStats) {
	s.raw = append(s.raw[:0], cur.Raw...)
	cur.Raw = s.raw
	s.last, s.hasLast = cur, true
}

// unsentPoints returns the points not yet published, oldest first.
func (s *series) unsentPoints() []point {
	out := make([]point, 0, s.unsent)
	for i := s.n - s.unsent; i < s.n; i++ {
		out = append(out, s.ring[(s.start+i)%len(s.ring)])
	}
	return out
}

// metric builds the container's stats sets over its unsent points and
// marks them sent. ok is false when there is no unsent point (a stats set
// needs two samples).
func (s *series) metric(restartCount int) (wire.ContainerMetric, bool) {
	pts := s.unsentPoints()
	if len(pts) == 0 {
		return wire.ContainerMetric{}, false
	}
	s.unsent = 0
	m := wire.ContainerMetric{
		CPUStatsSet:    cwSet(pts, func(p point) float64 { return p.cpuPercent }),
		MemoryStatsSet: cwSet(pts, func(p point) float64 { return p.memoryMiB }),
		NetworkStatsSet: &wire.NetworkStatsSet{
			RxBytes:          ulongSet(pts, func(p point) uint64 { return p.net.RxBytes }),
			RxPackets:        ulongSet(pts, func(p point) uint64 { return p.net.RxPackets }),
			RxErrors:         ulongSet(pts, func(p point) uint64 { return p.net.RxErrors }),
			RxDropped:        ulongSet(pts, func(p point) uint64 { return p.net.RxDropped }),
			TxBytes:          ulongSet(pts, func(p point) uint64 { return p.net.TxBytes }),
			TxPackets:        ulongSet(pts, func(p point) uint64 { return p.net.TxPackets }),
			TxErrors:         ulongSet(pts, func(p point) uint64 { return p.net.TxErrors }),
			TxDropped:        ulongSet(pts, func(p point) uint64 { return p.net.TxDropped }),
			RxBytesPerSecond: udoubleSet(pts, func(p point) float64 { return p.rxPerSec }),
			TxBytesPerSecond: udoubleSet(pts, func(p point) float64 { return p.txPerSec }),
		},
		StorageStatsSet: &wire.StorageStatsSet{
			ReadSizeBytes:  ulongSet(pts, func(p point) uint64 { return p.diskRead }),
			WriteSizeBytes: ulongSet(pts, func(p point) uint64 { return p.diskWrite }),
		},
	}
	// Restarts since the last publish, for containers that ever restarted
	// (a restart policy's count); others carry no restart set.
	if restartCount > 0 {
		m.RestartStatsSet = &wire.RestartStatsSet{RestartCount: max(restartCount-s.restartsSent, 0)}
		s.restartsSent = restartCount
	}
	return m, true
}

// cwSet is the min, max, sum and count of one value over pts (len ≥ 1).
func cwSet(pts []point, value func(point) float64) *wire.CWStatsSet {
	set := &wire.CWStatsSet{Min: value(pts[0]), Max: value(pts[0])}
	for _, p := range pts {
		v := value(p)
		set.Min, set.Max = min(set.Min, v), max(set.Max, v)
		set.Sum += v
		set.SampleCount++
	}
	return set
}

func udoubleSet(pts []point, value func(point) float64) *wire.UDoubleCWStatsSet {
	s := cwSet(pts, value)
	return &wire.UDoubleCWStatsSet{Min: s.Min, Max: s.Max, Sum: s.Sum, SampleCount: s.SampleCount}
}

// ulongSet is the min, max, sum and count of a counter increase over pts.
// The wire's longs are signed; a value or sum past MaxInt64 is sent as
// MaxInt64 with the remainder in the overflow members, as the model allows.
func ulongSet(pts []point, value func(point) uint64) *wire.ULongStatsSet {
	lo, hi := value(pts[0]), value(pts[0])
	var sum uint64
	sumOverflow := false
	for _, p := range pts {
		v := value(p)
		lo, hi = min(lo, v), max(hi, v)
		if sum+v < sum {
			sumOverflow = true
		}
		sum += v
	}
	set := &wire.ULongStatsSet{SampleCount: int64(len(pts))}
	set.Min, set.OverflowMin = split(lo)
	set.Max, set.OverflowMax = split(hi)
	set.Sum, set.OverflowSum = split(sum)
	if sumOverflow { // beyond even two longs: say so with the largest value
		set.Sum, set.OverflowSum = maxLong, maxLong
	}
	return set
}

const maxLong = int64(^uint64(0) >> 1)

// split writes v as a long and what exceeds MaxInt64.
func split(v uint64) (value, overflow int64) {
	if v <= uint64(maxLong) {
		return int64(v), 0
	}
	return maxLong, int64(v - uint64(maxLong))
}
