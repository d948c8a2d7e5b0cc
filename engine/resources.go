package engine

import (
	"fmt"
	"sync"
)

// need is what one task consumes of the host.
type need struct {
	CPU, MemoryMiB int
	Ports          []string // static "port/proto"
}

func taskNeed(t *task) need {
	n := need{CPU: t.CPU, MemoryMiB: t.MemoryMiB}
	sumCPU, sumMem := 0, 0
	for _, c := range t.Containers {
		sumCPU += c.CPU
		ov, _ := parseOverlays(c)
		if r := ov.memoryReservationMiB(); r > 0 {
			sumMem += r
		} else {
			sumMem += c.Memory
		}
		if t.NetworkMode != networkNone {
			for _, pm := range c.PortMappings {
				if pm.HostPort != 0 {
					n.Ports = append(n.Ports, portKey(pm.HostPort, pm.Protocol))
				} else if t.NetworkMode == networkHost && pm.ContainerPort != 0 {
					n.Ports = append(n.Ports, portKey(pm.ContainerPort, pm.Protocol))
				}
			}
		}
	}
	if n.CPU == 0 {
		n.CPU = sumCPU
	}
	if n.MemoryMiB == 0 {
		n.MemoryMiB = sumMem
	}
	return n
}

// hostResources accounts CPU, memory and static ports per task. Tasks that
// do not fit wait in FIFO order: a later small task never overtakes an
// earlier big one, so the big one cannot starve.
type hostResources struct {
	total HostResources

	mu       sync.Mutex
	cpu, mem int
	ports    map[string]string // "port/proto" → holder ARN ("" = reserved)
	held     map[string]need
	queue    []*waiter
}

type waiter struct {
	arn     string
	need    need
	granted chan struct{}
}

func newHostResources(total HostResources) *hostResources {
	h := &hostResources{total: total, ports: map[string]string{}, held: map[string]need{}}
	for _, p := range total.PortsTCP {
		h.ports[portKey(int(p), "tcp")] = ""
	}
	for _, p := range total.PortsUDP {
		h.ports[portKey(int(p), "udp")] = ""
	}
	return h
}

// impossible says why n can never fit this host, or "".
func (h *hostResources) impossible(n need) string {
	switch {
	case h.total.CPU > 0 && n.CPU > h.total.CPU:
		return fmt.Sprintf("the task needs %d CPU units, the instance has %d", n.CPU, h.total.CPU)
	case h.total.MemoryMiB > 0 && n.MemoryMiB > h.total.MemoryMiB:
		return fmt.Sprintf("the task needs %d MiB of memory, the instance has %d", n.MemoryMiB, h.total.MemoryMiB)
	}
	for _, p := range n.Ports {
		if holder, ok := h.ports[p]; ok && holder == "" {
			return fmt.Sprintf("host port %s is reserved on this instance", p)
		}
	}
	return ""
}

func (h *hostResources) fits(n need) bool {
	if h.total.CPU > 0 && h.cpu+n.CPU > h.total.CPU {
		return false
	}
	if h.total.MemoryMiB > 0 && h.mem+n.MemoryMiB > h.total.MemoryMiB {
		return false
	}
	for _, p := range n.Ports {
		if _, taken := h.ports[p]; taken {
			return false
		}
	}
	return true
}

func (h *hostResources) take(arn string, n need) {
	h.cpu += n.CPU
	h.mem += n.MemoryMiB
	for _, p := range n.Ports {
		h.ports[p] = arn
	}
	h.held[arn] = n
}

// acquire queues arn; the returned channel is closed once its resources are
// held. Calling it again for a queued or holding task returns a closed or
// the same pending channel.
func (h *hostResources) acquire(arn string, n need) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.held[arn]; ok {
		return closedChan
	}
	for _, w := range h.queue {
		if w.arn == arn {
			return w.granted
		}
	}
	w := &waiter{arn: arn, need: n, granted: make(chan struct{})}
	h.queue = append(h.queue, w)
	h.grant()
	return w.granted
}

// force takes resources without queueing: for tasks that already held them
// before an agent restart.
func (h *hostResources) force(arn string, n need) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.held[arn]; !ok {
		h.take(arn, n)
	}
}

// release frees arn's resources (or drops it from the queue) and grants
// whatever now fits at the head of the queue.
func (h *hostResources) release(arn string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n, ok := h.held[arn]; ok {
		h.cpu -= n.CPU
		h.mem -= n.MemoryMiB
		for _, p := range n.Ports {
			if h.ports[p] == arn {
				delete(h.ports, p)
			}
		}
		delete(h.held, arn)
	}
	for i, w := range h.queue {
		if w.arn == arn {
			h.queue = append(h.queue[:i], h.queue[i+1:]...)
			break
		}
	}
	h.grant()
}

func (h *hostResources) grant() {
	for len(h.queue) > 0 && h.fits(h.queue[0].need) {
		w := h.queue[0]
		h.queue = h.queue[1:]
		h.take(w.arn, w.need)
		close(w.granted)
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
