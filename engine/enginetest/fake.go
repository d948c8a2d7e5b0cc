// Package enginetest holds a state-keeping fake of runtime.Runtime and the
// conformance suite that both the fake and the real Docker adapter pass.
//
// The fake keeps images, a registry, containers, volumes and event
// subscribers in memory. It never decides behaviour from what a container
// runs (its command or health-check test): tests say what happens through
// explicit controls, registered before the container or pull exists or
// applied to it afterwards:
//
//   - what a container's process does: SetProgram(image, Program) before the
//     container is created (exit at once with a code, ignore SIGTERM, be
//     OOM-killed, fail to start, reach a health status); without one it runs
//     until stopped and exits 143 on SIGTERM;
//   - what happens to a running container: Exit, OOMKill, SetHealth;
//   - what a pull finds: SetRegistryImage (with the credentials it needs),
//     StallPull, BlockPulls;
//   - what the host holds: OccupyPort (a port another process listens on);
//   - how Docker itself misbehaves: FailNext, SetError, Block (a call that
//     hangs until its context ends), BreakEvents.
//
// Other knobs: SetImage, TagImage, Calls, PullsWaiting, SetNow,
// SetIPv6Bindings, Containers.
package enginetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Proves the fake fits the engine's interface.
var _ runtime.Runtime = (*Fake)(nil)

// firstHostPort is where the fake starts assigning host ports for
// hostPort 0, like Docker's default ephemeral range.
const firstHostPort = 49153

// Fake is an in-memory runtime.Runtime. The zero value is not usable; call
// NewFake. It is safe for concurrent use.
type Fake struct {
	mu         sync.Mutex
	stats      fakeStats // fake_stats.go
	now        func() time.Time
	seq        int
	images     map[string]*runtime.Image // by ID
	tags       map[string]string         // normalised reference → image ID
	registry   map[string]registryImage  // normalised reference → pullable image
	containers map[string]*fakeContainer // by ID
	names      map[string]string         // name → ID
	volumes    map[string]runtime.Volume
	subs       map[*subscriber]struct{}
	failNext   map[string][]error
	failAlways map[string]error
	calls      map[string]int
	blocked    map[string]chan struct{} // method → gate, while Block holds it
	pullGate   chan struct{}            // non-nil while pulls are blocked
	pullsWait  int
	nextPort   uint16
	ipv6       bool                // report "::" bindings too
	programs   map[string]Program  // by normalised reference or image ID
	occupied   map[hostPortKey]int // host ports held outside the fake
	stalled    map[string]bool     // normalised references whose pulls stall
}

type registryImage struct {
	id   string
	size int64
	auth *runtime.RegistryAuth // required credentials, nil for anonymous
}

// NewFake returns an empty fake runtime using the wall clock.
func NewFake() *Fake {
	return &Fake{
		now:        time.Now,
		images:     make(map[string]*runtime.Image),
		tags:       make(map[string]string),
		registry:   make(map[string]registryImage),
		containers: make(map[string]*fakeContainer),
		names:      make(map[string]string),
		volumes:    make(map[string]runtime.Volume),
		subs:       make(map[*subscriber]struct{}),
		failNext:   make(map[string][]error),
		failAlways: make(map[string]error),
		calls:      make(map[string]int),
		blocked:    make(map[string]chan struct{}),
		programs:   make(map[string]Program),
		occupied:   make(map[hostPortKey]int),
		stalled:    make(map[string]bool),
		nextPort:   firstHostPort,
	}
}

// SetNow replaces the clock used for timestamps.
func (f *Fake) SetNow(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// SetIPv6Bindings makes inspect report every published port a second
// time with HostIP "::", as Docker 20.10 does on hosts with IPv6.
func (f *Fake) SetIPv6Bindings(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ipv6 = on
}

// FailNext makes the next call of method (a runtime.Runtime method name,
// e.g. "PullImage") return err. Calls queue up: FailNext twice fails two
// calls.
func (f *Fake) FailNext(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = append(f.failNext[method], err)
}

// SetError makes every call of method return err until SetError(method,
// nil).
func (f *Fake) SetError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.failAlways, method)
		return
	}
	f.failAlways[method] = err
}

// Calls returns how many times method was called (failed calls included).
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// enter counts a call, waits while the method is blocked (Block) and
// returns the injected error for it, if any, or the context's error. The
// caller does not hold f.mu.
func (f *Fake) enter(ctx context.Context, method string) error {
	f.mu.Lock()
	f.calls[method]++
	gate := f.blocked[method]
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", method, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if q := f.failNext[method]; len(q) > 0 {
		f.failNext[method] = q[1:]
		return q[0]
	}
	if err := f.failAlways[method]; err != nil {
		return err
	}
	return ctx.Err()
}

// newID returns a Docker-looking 64-hex-digit ID.
func (f *Fake) newID(kind string) string {
	f.seq++
	sum := sha256.Sum256([]byte(kind + strconv.Itoa(f.seq)))
	return hex.EncodeToString(sum[:])
}

// notFound and conflict build errors that read like Docker's and match the
// runtime sentinels.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{runtime.ErrNotFound}, args...)...)
}

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{runtime.ErrConflict}, args...)...)
}

// normalizeRef gives "busybox", "busybox:latest" and
// "docker.io/library/busybox:latest" one spelling.
func normalizeRef(ref string) string {
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if strings.HasPrefix(ref, p) {
			ref = strings.TrimPrefix(ref, p)
			break
		}
	}
	if strings.Contains(ref, "@") {
		return ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") {
		ref += ":latest"
	}
	return ref
}

// CreateVolume creates a volume or returns the existing one.
func (f *Fake) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (runtime.Volume, error) {
	if err := f.enter(ctx, "CreateVolume"); err != nil {
		return runtime.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.createVolume(spec)
}

func (f *Fake) createVolume(spec runtime.VolumeSpec) (runtime.Volume, error) {
	driver := spec.Driver
	if driver == "" {
		driver = "local"
	}
	if spec.Name == "" {
		spec.Name = f.newID("volume")
	}
	if v, ok := f.volumes[spec.Name]; ok {
		if v.Driver != driver {
			return runtime.Volume{}, conflict("volume %s already exists with driver %s", spec.Name, v.Driver)
		}
		return v, nil
	}
	v := runtime.Volume{
		Name: spec.Name, Driver: driver, Labels: copyMap(spec.Labels),
		Mountpoint: "/var/lib/docker/volumes/" + spec.Name + "/_data",
	}
	f.volumes[spec.Name] = v
	return v, nil
}

// InspectVolume describes a volume.
func (f *Fake) InspectVolume(ctx context.Context, name string) (runtime.Volume, error) {
	if err := f.enter(ctx, "InspectVolume"); err != nil {
		return runtime.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.volumes[name]
	if !ok {
		return runtime.Volume{}, notFound("get %s: no such volume", name)
	}
	return v, nil
}

// RemoveVolume removes a volume that no container uses.
func (f *Fake) RemoveVolume(ctx context.Context, name string) error {
	if err := f.enter(ctx, "RemoveVolume"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.volumes[name]; !ok {
		return notFound("get %s: no such volume", name)
	}
	for _, c := range f.containers {
		for _, m := range c.c.Mounts {
			if m.Name == name {
				return fmt.Errorf("remove %s: volume is in use - [%s]", name, c.c.ID)
			}
		}
	}
	delete(f.volumes, name)
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
