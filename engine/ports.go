package engine

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// maxPortRanges is the most containerPortRange mappings a container may
// have, as in ECS.
const maxPortRanges = 100

// portSpan is the container ports of one mapping, for the overlap check.
type portSpan struct {
	proto  string
	lo, hi int
}

// validatePortMappings checks a container's port mappings as the control
// plane checks a task definition's, so that a payload from elsewhere gets
// no further: protocol tcp or udp; containerPort 1-65535 and hostPort
// 0-65535; in host mode a hostPort, when given, equal to the containerPort;
// a containerPortRange "first-last" (1 <= first < last <= 65535) only in
// bridge mode, without containerPort or hostPort, at most maxPortRanges of
// them; no mappings at all in network mode none; and no container port in
// two mappings. Overlaps are found on sorted spans, so the cost follows the
// number of mappings, never the number of ports in a range.
func validatePortMappings(mode string, c *container) error {
	if len(c.PortMappings) > 0 && mode == networkNone {
		return fmt.Errorf("container %q has portMappings, which network mode none does not allow", c.Name)
	}
	spans := make([]portSpan, 0, len(c.PortMappings))
	ranges := 0
	for _, pm := range c.PortMappings {
		if err := validatePort(mode, pm); err != nil {
			return fmt.Errorf("container %q: %w", c.Name, err)
		}
		s := portSpan{proto: pm.Protocol, lo: pm.ContainerPort, hi: pm.ContainerPort}
		if pm.ContainerPortRange != "" {
			ranges++
			s.lo, s.hi, _ = parseRange(pm.ContainerPortRange)
		}
		spans = append(spans, s)
	}
	if ranges > maxPortRanges {
		return fmt.Errorf("container %q has %d containerPortRange mappings; at most %d are allowed", c.Name, ranges, maxPortRanges)
	}
	slices.SortFunc(spans, func(a, b portSpan) int {
		return cmp.Or(strings.Compare(a.proto, b.proto), cmp.Compare(a.lo, b.lo))
	})
	for i := 1; i < len(spans); i++ {
		prev, cur := spans[i-1], spans[i]
		if prev.proto == cur.proto && cur.lo <= prev.hi {
			return fmt.Errorf("container %q maps container port %d/%s more than once; each port may be mapped once", c.Name, cur.lo, cur.proto)
		}
	}
	return nil
}

func validatePort(mode string, pm portMapping) error {
	switch pm.Protocol {
	case "tcp", "udp":
	default:
		return fmt.Errorf("port mapping protocol %q is not tcp or udp", pm.Protocol)
	}
	if pm.ContainerPortRange != "" {
		lo, hi, err := parseRange(pm.ContainerPortRange)
		if err != nil || lo == hi {
			return fmt.Errorf("containerPortRange %q is not \"first-last\" with 1 <= first < last <= 65535", pm.ContainerPortRange)
		}
		if pm.HostPort != 0 || pm.ContainerPort != 0 {
			return fmt.Errorf("containerPortRange %q cannot be combined with containerPort or hostPort", pm.ContainerPortRange)
		}
		if mode != networkBridge {
			return fmt.Errorf("containerPortRange %q is supported only in bridge network mode, not %s", pm.ContainerPortRange, mode)
		}
		return nil
	}
	if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
		return fmt.Errorf("containerPort %d is not in 1-65535", pm.ContainerPort)
	}
	if pm.HostPort < 0 || pm.HostPort > 65535 {
		return fmt.Errorf("hostPort %d is not in 0-65535", pm.HostPort)
	}
	if mode == networkHost && pm.HostPort != 0 && pm.HostPort != pm.ContainerPort {
		return fmt.Errorf("hostPort %d must equal containerPort %d in host network mode", pm.HostPort, pm.ContainerPort)
	}
	return nil
}

// staticHostPort is the host port a mapping pins, or 0 when the agent
// chooses one: in host mode the container port, in bridge mode a non-zero
// hostPort.
func staticHostPort(mode string, pm portMapping) int {
	switch {
	case pm.ContainerPortRange != "", mode == networkNone:
		return 0
	case mode == networkHost:
		return pm.ContainerPort
	}
	return pm.HostPort
}

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
