package engine

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// portAllocator hands out dynamic host ports (hostPort 0) from
// ECS_DYNAMIC_HOST_PORT_RANGE. A port is handed out only when it is not
// reserved, not held by another task of this agent, and can be bound now.
type portAllocator struct {
	lo, hi   int
	reserved map[string]bool // "port/proto"
	free     func(proto string, port uint16) bool

	mu     sync.Mutex
	held   map[string]string // "port/proto" → task ARN
	cursor int
}

func newPortAllocator(rangeSpec string, res HostResources, free func(string, uint16) bool) (*portAllocator, error) {
	if rangeSpec == "" {
		rangeSpec = kernelPortRange()
	}
	lo, hi, err := parseRange(rangeSpec)
	if err != nil {
		return nil, fmt.Errorf("ECS_DYNAMIC_HOST_PORT_RANGE: %w", err)
	}
	p := &portAllocator{lo: lo, hi: hi, reserved: map[string]bool{}, free: free, held: map[string]string{}, cursor: lo}
	for _, port := range res.PortsTCP {
		p.reserved[portKey(int(port), "tcp")] = true
	}
	for _, port := range res.PortsUDP {
		p.reserved[portKey(int(port), "udp")] = true
	}
	return p, nil
}

func portKey(port int, proto string) string { return strconv.Itoa(port) + "/" + proto }

// kernelPortRange reads the ephemeral port range, falling back to Linux's
// default when /proc is unavailable.
func kernelPortRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			return f[0] + "-" + f[1]
		}
	}
	return "32768-60999"
}

// allocate returns the first port of count contiguous free ports and holds
// them for arn.
func (p *portAllocator) allocate(arn, proto string, count int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	span := p.hi - p.lo + 1
	for i := range span {
		start := p.lo + (p.cursor-p.lo+i)%span
		if start+count-1 > p.hi {
			continue
		}
		ok := true
		for port := start; port < start+count && ok; port++ {
			k := portKey(port, proto)
			ok = !p.reserved[k] && p.held[k] == "" && p.free(proto, uint16(port))
		}
		if !ok {
			continue
		}
		for port := start; port < start+count; port++ {
			p.held[portKey(port, proto)] = arn
		}
		p.cursor = start + count
		if p.cursor > p.hi {
			p.cursor = p.lo
		}
		return start, nil
	}
	return 0, fmt.Errorf("no %d free %s host port(s) in ECS_DYNAMIC_HOST_PORT_RANGE %d-%d", count, proto, p.lo, p.hi)
}

// hold marks ports chosen before a restart as held again.
func (p *portAllocator) hold(arn, proto string, start, count int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for port := start; port < start+count; port++ {
		p.held[portKey(port, proto)] = arn
	}
}

// release frees every port held for arn.
func (p *portAllocator) release(arn string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, owner := range p.held {
		if owner == arn {
			delete(p.held, k)
		}
	}
}

// listenable reports whether proto/port can be bound on all addresses now.
func listenable(proto string, port uint16) bool {
	addr := ":" + strconv.Itoa(int(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
