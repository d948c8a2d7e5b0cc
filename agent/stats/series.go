package stats

import (
	"math"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const bytesInMiB = 1 << 20

// point is what one sample adds to a container's series: values derived
// from it and the sample before it, in no more bits than the stats sets
// need (72 bytes, where float64s, full counters and a time.Time took 136:
// 100 containers keep 8,000 points).
type point struct {
	// rxBytes, txBytes, diskRead, diskWrite are byte counter increases since
	// the previous sample; a counter that went back (the container
	// restarted, its cgroup is new) counts from zero.
	rxBytes, txBytes, diskRead, diskWrite uint64
	// packets are the other network counters' increases, in the order of
	// the packet* constants, saturated at MaxUint32 (4 billion packets in
	// one interval is far beyond any link).
	packets [6]uint32
	// cpuPercent is 100 × CPU time used / wall time elapsed between the two
	// samples: 100 is one full CPU, and a container busy on 4 CPUs reaches
	// 400. That is the incumbent's definition (reference §6), which TCS and
	// ECS's CPUUtilization expect; Docker CLI's percentage of the whole host
	// would shrink with the host's size. A float32's 7 digits are more than
	// CloudWatch shows.
	cpuPercent float32
	// memoryMiB is the working set in whole MiB, as the incumbent sends it.
	memoryMiB uint32
	// elapsedMs is the interval, for the byte rates.
	elapsedMs uint32
}

// Indexes of point.packets.
const (
	packetsRx = iota
	errorsRx
	droppedRx
	packetsTx
	errorsTx
	droppedTx
)

// newPoint derives the point of cur from the sample before it. ok is false
// when cur is not newer than prev.
func newPoint(prev, cur runtime.ContainerStats) (point, bool) {
	elapsed := cur.Read.Sub(prev.Read)
	if elapsed <= 0 {
		return point{}, false
	}
	pn, cn := prev.Network, cur.Network
	return point{
		rxBytes:   delta(pn.RxBytes, cn.RxBytes),
		txBytes:   delta(pn.TxBytes, cn.TxBytes),
		diskRead:  delta(prev.DiskReadBytes, cur.DiskReadBytes),
		diskWrite: delta(prev.DiskWriteBytes, cur.DiskWriteBytes),
		packets: [6]uint32{
			packetsRx: delta32(pn.RxPackets, cn.RxPackets),
			errorsRx:  delta32(pn.RxErrors, cn.RxErrors),
			droppedRx: delta32(pn.RxDropped, cn.RxDropped),
			packetsTx: delta32(pn.TxPackets, cn.TxPackets),
			errorsTx:  delta32(pn.TxErrors, cn.TxErrors),
			droppedTx: delta32(pn.TxDropped, cn.TxDropped),
		},
		cpuPercent: float32(100 * float64(delta(prev.CPUUsage, cur.CPUUsage)) / float64(elapsed.Nanoseconds())),
		memoryMiB:  uint32(min(cur.MemoryUsage/bytesInMiB, math.MaxUint32)),
		elapsedMs:  uint32(min(max(elapsed.Milliseconds(), 1), math.MaxUint32)),
	}, true
}

// perSec is a byte count's rate over the point's interval.
func (p point) perSec(bytes uint64) float64 {
	return float64(bytes) / (float64(p.elapsedMs) / 1000)
}

// delta32 is delta saturated to 32 bits.
func delta32(prev, cur uint64) uint32 {
	return uint32(min(delta(prev, cur), math.MaxUint32))
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
		CPUStatsSet:    cwSet(pts, func(p point) float64 { return float64(p.cpuPercent) }),
		MemoryStatsSet: cwSet(pts, func(p point) float64 { return float64(p.memoryMiB) }),
		NetworkStatsSet: &wire.NetworkStatsSet{
			RxBytes:          ulongSet(pts, func(p point) uint64 { return p.rxBytes }),
			RxPackets:        packetSet(pts, packetsRx),
			RxErrors:         packetSet(pts, errorsRx),
			RxDropped:        packetSet(pts, droppedRx),
			TxBytes:          ulongSet(pts, func(p point) uint64 { return p.txBytes }),
			TxPackets:        packetSet(pts, packetsTx),
			TxErrors:         packetSet(pts, errorsTx),
			TxDropped:        packetSet(pts, droppedTx),
			RxBytesPerSecond: udoubleSet(pts, func(p point) float64 { return p.perSec(p.rxBytes) }),
			TxBytesPerSecond: udoubleSet(pts, func(p point) float64 { return p.perSec(p.txBytes) }),
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

// packetSet is ulongSet over one of point.packets.
func packetSet(pts []point, i int) *wire.ULongStatsSet {
	return ulongSet(pts, func(p point) uint64 { return uint64(p.packets[i]) })
}

const maxLong = int64(^uint64(0) >> 1)

// split writes v as a long and what exceeds MaxInt64.
func split(v uint64) (value, overflow int64) {
	if v <= uint64(maxLong) {
		return int64(v), 0
	}
	return maxLong, int64(v - uint64(maxLong))
}
