package enginetest

import (
	"fmt"
	"strings"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Program is what a container's main process does. The fake never reads a
// container's command: a test says what the process does by registering a
// Program for the image before creating the container (Fake.SetProgram).
// BusyboxHarness turns the same Program into a busybox command for real
// Docker, so a conformance test means the same thing on both.
//
// The zero Program runs until it is stopped and exits 143 on SIGTERM, like a
// server that handles the signal.
type Program struct {
	// Exits makes the process end by itself right after it starts, with
	// ExitCode.
	Exits    bool
	ExitCode int
	// IgnoreTerm makes the process ignore SIGTERM: StopContainer waits for
	// its timeout, then kills it (exit 137).
	IgnoreTerm bool
	// OOM makes the process exceed the container's memory limit right after
	// it starts: the kernel kills it (an oom event, then die with 137, and
	// OOMKilled set).
	OOM bool
	// StartFails makes every start fail as a missing executable does: the
	// start returns an error and the container stays created with exit
	// code 127 and State.Error set.
	StartFails bool
	// Health is the status the container's health check reaches right after
	// the start; "" leaves it "starting" until Fake.SetHealth. It only
	// matters for a container created with a Healthcheck.
	Health string
}

// Exit codes and messages of the failures Docker reports on a start.
const (
	exitCodeStartFailed = 127 // the executable does not exist
	exitCodeStartError  = 128 // the engine could not set the container up (ports)
	exitCodeSIGTERM     = 143
	exitCodeSIGKILL     = 137
)

// SetProgram makes containers created from ref run p. ref is an image
// reference (any spelling Docker treats as the same) or an image ID; a
// reference wins over the ID of the image it names. Containers created from
// an image without a Program run the zero Program.
func (f *Fake) SetProgram(ref string, p Program) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.programs[programKey(ref)] = p
}

func programKey(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	return normalizeRef(ref)
}

// programFor is the Program of a container created from ref, which
// resolved to img. The caller holds f.mu.
func (f *Fake) programFor(ref string, img *runtime.Image) Program {
	if p, ok := f.programs[programKey(ref)]; ok {
		return p
	}
	return f.programs[img.ID]
}

// OccupyPort makes a host port unavailable, as a process outside Docker
// that listens on it does: starting a container that publishes it fails
// the way Docker's port proxy fails. release frees it again.
func (f *Fake) OccupyPort(proto string, port uint16) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := hostPortKey{proto: proto, port: port}
	f.occupied[key]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.occupied[key] > 0 {
			f.occupied[key]--
		}
	}
}

type hostPortKey struct {
	proto string
	port  uint16
}

// portConflict returns the error a start of fc gets when one of its static
// host ports is taken, by another running container or from outside. The
// caller holds f.mu.
func (f *Fake) portConflict(fc *fakeContainer) error {
	for _, p := range fc.portSpecs {
		if p.HostPort == 0 {
			continue
		}
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		if f.occupied[hostPortKey{proto: p.Protocol, port: p.HostPort}] > 0 {
			return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): "+
				"Error starting userland proxy: listen %s4 %s:%d: bind: address already in use",
				fc.c.Name, fc.c.ID, p.Protocol, ip, p.HostPort)
		}
		for _, other := range f.containers {
			if other == fc || other.c.State != runtime.StateRunning {
				continue
			}
			for _, b := range other.c.Ports {
				if b.Protocol == p.Protocol && b.HostPort == p.HostPort && overlaps(b.HostIP, ip) {
					return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): "+
						"Bind for %s:%d failed: port is already allocated", fc.c.Name, fc.c.ID, ip, p.HostPort)
				}
			}
		}
	}
	return nil
}

func overlaps(a, b string) bool {
	wild := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return wild(a) || wild(b) || a == b
}

// Block makes every call of method (a runtime.Runtime method name) wait,
// before it does anything, until release is called or the call's context
// ends, which fails the call with the context's error: a Docker call that
// hangs. Calls counts a blocked call when it arrives. release is idempotent.
func (f *Fake) Block(method string) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gate := make(chan struct{})
	f.blocked[method] = gate
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.blocked[method] == gate {
			delete(f.blocked, method)
			close(gate)
		}
	}
}
