package dockerapi

import (
	"bytes"
	"slices"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// scanStats is statsFrom's fast path. It reads the members of statsJSON from
// one Docker stats sample in a single pass over the bytes, without
// reflection and without allocating, and validates everything it skips.
//
// Why: with metrics on, the agent decodes one sample per running container
// a second, and encoding/json spent about 25 µs and 32 allocations on each
// (BenchmarkStatsFrom), a quarter of the agent's CPU with 100 tasks.
//
// ok is false when the sample holds anything this path does not decide on
// its own: escapes or non-ASCII bytes in a member name, a name that equals
// a wanted one only when case is ignored, a wanted member or an interface
// given twice, a number that is not a plain unsigned integer of the
// field's size, nesting deeper than maxScanDepth, or malformed JSON. The
// caller then decodes with encoding/json, whose answer (a value or an
// error) is the definition of right; FuzzStatsFrom checks that whenever
// this path answers, it answers the same. Docker's own samples never leave
// it.
func scanStats(raw []byte) (runtime.ContainerStats, bool) {
	s := statsScanner{b: raw}
	out := runtime.ContainerStats{Raw: raw}
	var totalInactive, inactive uint64
	var hasTotalInactive, hasInactive bool
	ok := s.object(sampleFields, func(field string) bool {
		switch field {
		case "read":
			return s.time(&out.Read)
		case "cpu_stats":
			return s.object(cpuFields, func(field string) bool {
				switch field {
				case "cpu_usage":
					return s.object(cpuUsageFields, func(string) bool { return s.uint(&out.CPUUsage, 64) })
				case "system_cpu_usage":
					return s.uint(&out.SystemCPUUsage, 64)
				default: // online_cpus
					var n uint64
					ok := s.uint(&n, 32)
					out.OnlineCPUs = uint32(n)
					return ok
				}
			})
		case "memory_stats":
			return s.object(memoryFields, func(field string) bool {
				switch field {
				case "usage":
					return s.uint(&out.MemoryUsage, 64)
				case "limit":
					return s.uint(&out.MemoryLimit, 64)
				default: // stats
					return s.object(memoryStatFields, func(field string) bool {
						if field == "total_inactive_file" {
							return s.optionalUint(&totalInactive, &hasTotalInactive, 64)
						}
						return s.optionalUint(&inactive, &hasInactive, 64)
					})
				}
			})
		case "networks":
			return s.networks(&out.Network)
		default: // blkio_stats
			return s.object(blkioFields, func(string) bool { return s.blkio(&out) })
		}
	})
	if s.peek(); !ok || s.i != len(s.b) {
		return runtime.ContainerStats{}, false // malformed, unusual, or more after the object
	}
	switch { // the working set, as statsFrom computes it
	case hasTotalInactive:
		out.MemoryUsage -= min(totalInactive, out.MemoryUsage)
	case hasInactive:
		out.MemoryUsage -= min(inactive, out.MemoryUsage)
	}
	return out, true
}

// The members statsJSON decodes, object by object (at most 32 each).
var (
	sampleFields     = []string{"read", "cpu_stats", "memory_stats", "networks", "blkio_stats"}
	cpuFields        = []string{"cpu_usage", "system_cpu_usage", "online_cpus"}
	cpuUsageFields   = []string{"total_usage"}
	memoryFields     = []string{"usage", "limit", "stats"}
	memoryStatFields = []string{"total_inactive_file", "inactive_file"}
	networkFields    = []string{"rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}
	blkioFields      = []string{"io_service_bytes_recursive"}
	blkioEntryFields = []string{"op", "value"}
)

// maxScanDepth bounds the scanner's recursion; deeper samples go to
// encoding/json.
const maxScanDepth = 64

// maxInterfaces bounds the interfaces one sample may list; more go to
// encoding/json.
const maxInterfaces = 16

// statsScanner is a cursor over one JSON document. Every method returns
// false to give up (see scanStats).
type statsScanner struct {
	b     []byte
	i     int
	depth int
}

// peek skips white space and returns the next byte, 0 at the end (a NUL
// byte is no JSON token either).
func (s *statsScanner) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *statsScanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// null consumes a null literal if one is next. encoding/json leaves a
// field untouched on null and sets a map or a slice to nil: for a value
// read once, the same as absent.
func (s *statsScanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += len("null")
		return true
	}
	return false
}

// object reads an object (or null) whose wanted members are fields: for
// each, it calls member with the field's name, the cursor on its value.
// Other members are skipped, unless their name equals a field's but for
// case, which encoding/json would decode into it.
func (s *statsScanner) object(fields []string, member func(field string) bool) bool {
	var seen uint32
	return s.members(func(key []byte) bool {
		for i, f := range fields {
			switch {
			case string(key) == f:
				if seen&(1<<i) != 0 {
					return false // given twice: encoding/json would merge or overwrite
				}
				seen |= 1 << i
				return member(f)
			case bytes.EqualFold(key, []byte(f)):
				return false
			}
		}
		return s.skip()
	})
}

// members reads an object (or null), calling member with each member's
// name, the cursor on its value.
func (s *statsScanner) members(member func(key []byte) bool) bool {
	if s.null() {
		return true
	}
	if s.depth == maxScanDepth || !s.eat('{') {
		return false
	}
	s.depth++
	defer func() { s.depth-- }()
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.name()
		if !ok || !s.eat(':') || !member(key) {
			return false
		}
		if !s.eat(',') {
			return s.eat('}')
		}
	}
}

// name reads a string of printable ASCII without escapes, whose bytes are
// what encoding/json would compare, and returns what is between the quotes.
func (s *statsScanner) name() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// uint reads an unsigned integer of at most bits bits into v; null leaves
// it.
func (s *statsScanner) uint(v *uint64, bits int) bool {
	var has bool
	return s.optionalUint(v, &has, bits)
}

// optionalUint reads an unsigned integer of at most bits bits into v and
// sets has; null leaves both.
func (s *statsScanner) optionalUint(v *uint64, has *bool, bits int) bool {
	if s.null() {
		return true
	}
	s.peek()
	start := s.i
	var n uint64
	for ; s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9'; s.i++ {
		d := uint64(s.b[s.i] - '0')
		if n > (1<<64-1-d)/10 {
			return false // beyond 64 bits
		}
		n = n*10 + d
	}
	digits := s.i - start
	if digits == 0 || (digits > 1 && s.b[start] == '0') {
		return false // not an unsigned number, or a leading zero JSON forbids
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return false // a fraction or an exponent: not an integer to encoding/json
	}
	if bits < 64 && n>>bits != 0 {
		return false
	}
	*v, *has = n, true
	return true
}

// time reads an RFC 3339 string (or null) with time.Time's own JSON
// decoder.
func (s *statsScanner) time(t *time.Time) bool {
	if s.null() {
		return true
	}
	s.peek()
	start := s.i
	if _, ok := s.name(); !ok {
		return false
	}
	return t.UnmarshalJSON(s.b[start:s.i]) == nil
}

// networks adds the counters of every interface (an object by name, or
// null) to sum.
func (s *statsScanner) networks(sum *runtime.NetworkStats) bool {
	var names [maxInterfaces][]byte
	n := 0
	return s.members(func(name []byte) bool {
		for _, seen := range names[:n] {
			if bytes.Equal(seen, name) {
				return false // given twice: encoding/json keeps the last
			}
		}
		if n == len(names) {
			return false
		}
		names[n] = name
		n++
		var c runtime.NetworkStats
		counters := networkCounters(&c)
		if !s.object(networkFields, func(field string) bool {
			return s.uint(counters[slices.Index(networkFields, field)], 64)
		}) {
			return false
		}
		for i, total := range networkCounters(sum) {
			*total += *counters[i]
		}
		return true
	})
}

// networkCounters returns n's counters in networkFields' order.
func networkCounters(n *runtime.NetworkStats) [8]*uint64 {
	return [8]*uint64{&n.RxBytes, &n.RxPackets, &n.RxErrors, &n.RxDropped, &n.TxBytes, &n.TxPackets, &n.TxErrors, &n.TxDropped}
}

// blkio adds the bytes read and written of every entry of
// io_service_bytes_recursive (an array of objects, or null) to out.
func (s *statsScanner) blkio(out *runtime.ContainerStats) bool {
	if s.null() {
		return true
	}
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for {
		var op []byte
		var value uint64
		if !s.object(blkioEntryFields, func(field string) bool {
			if field == "value" {
				return s.uint(&value, 64)
			}
			if s.null() {
				return true
			}
			var ok bool
			op, ok = s.name()
			return ok
		}) {
			return false
		}
		switch { // cgroup v1 says "Read", v2 "read"
		case bytes.EqualFold(op, []byte("read")):
			out.DiskReadBytes += value
		case bytes.EqualFold(op, []byte("write")):
			out.DiskWriteBytes += value
		}
		if !s.eat(',') {
			return s.eat(']')
		}
	}
}

// skip validates and skips one value of any kind.
func (s *statsScanner) skip() bool {
	switch c := s.peek(); {
	case c == '{':
		return s.members(func([]byte) bool { return s.skip() })
	case c == '[':
		if s.depth == maxScanDepth {
			return false
		}
		s.depth++
		defer func() { s.depth-- }()
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			if !s.skip() {
				return false
			}
			if !s.eat(',') {
				return s.eat(']')
			}
		}
	case c == '"':
		return s.skipString()
	case c == '-' || ('0' <= c && c <= '9'):
		return s.skipNumber()
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// skipString skips a string as encoding/json accepts it: any byte but
// control characters, and the escapes JSON defines.
func (s *statsScanner) skipString() bool {
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.i++
			if s.i == len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if s.i+4 >= len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipNumber skips a number by JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *statsScanner) skipNumber() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits skips decimal digits and returns how many.
func (s *statsScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
