package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// fakeContainer is one container and how its command behaves.
type fakeContainer struct {
	c          runtime.Container
	runs       bool // the command runs until stopped
	exitCode   int  // the code it exits with when it does not run
	ignoreTerm bool
	health     string // health the check reaches after start ("" = none, "starting" = wait for SetHealth)
	portSpecs  []runtime.PortBinding
	exited     chan struct{} // closed when a running container exits
}

// fakeConfig is the part of Docker's container.Config the fake reads.
type fakeConfig struct {
	Image       string
	Cmd         []string
	Entrypoint  []string
	Labels      map[string]string
	Healthcheck *struct{ Test []string }
}

// fakeHostConfig is the part of Docker's container.HostConfig the fake reads.
type fakeHostConfig struct {
	PortBindings map[string][]struct{ HostIP, HostPort string }
	Binds        []string
	Mounts       []struct {
		Type, Source, Target string
		ReadOnly             bool
	}
}

var exitRE = regexp.MustCompile(`exit (\d+)`)

// scriptExit is the code a script exits with if it does not run on.
func scriptExit(script string) int {
	if m := exitRE.FindStringSubmatch(script); m != nil {
		code, _ := strconv.Atoi(m[1])
		return code
	}
	if strings.TrimSpace(script) == "false" {
		return 1
	}
	return 0
}

// healthOutcome is where a health check's test leads after start.
func healthOutcome(test []string) string {
	if len(test) == 0 || test[0] == "NONE" {
		return ""
	}
	script := strings.TrimSpace(test[len(test)-1])
	switch {
	case script == "true" || script == "exit 0":
		return runtime.HealthHealthy
	case script == "false" || exitRE.MatchString(script):
		return runtime.HealthUnhealthy
	}
	return runtime.HealthStarting
}

// CreateContainer creates a container from Docker Engine API JSON.
func (f *Fake) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (string, error) {
	var cfg fakeConfig
	if len(spec.Config) > 0 {
		if err := json.Unmarshal(spec.Config, &cfg); err != nil {
			return "", fmt.Errorf("create container %s: decode Config: %w", spec.Name, err)
		}
	}
	var hc fakeHostConfig
	if len(spec.HostConfig) > 0 {
		if err := json.Unmarshal(spec.HostConfig, &hc); err != nil {
			return "", fmt.Errorf("create container %s: decode HostConfig: %w", spec.Name, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "CreateContainer"); err != nil {
		return "", err
	}
	if id, ok := f.names[spec.Name]; ok {
		return "", conflict("the container name %q is already in use by container %q", "/"+spec.Name, id)
	}
	img := f.findImage(cfg.Image)
	if img == nil {
		return "", notFound("no such image: %s", cfg.Image)
	}
	id := f.newID("container")
	name := spec.Name
	if name == "" {
		name = "fake_" + id[:8]
	}
	script := strings.Join(append(slices.Clone(cfg.Entrypoint), cfg.Cmd...), " ")
	fc := &fakeContainer{
		c: runtime.Container{
			ID: id, Name: name, Image: cfg.Image, ImageID: img.ID, Labels: copyMap(cfg.Labels),
			State: runtime.StateCreated, CreatedAt: f.now(),
		},
		runs:       strings.Contains(script, "sleep"),
		exitCode:   scriptExit(script),
		ignoreTerm: strings.Contains(script, "trap '' TERM") || strings.Contains(script, `trap "" TERM`),
	}
	if cfg.Healthcheck != nil {
		fc.health = healthOutcome(cfg.Healthcheck.Test)
	}
	for port, bindings := range hc.PortBindings {
		num, proto, _ := strings.Cut(port, "/")
		if proto == "" {
			proto = "tcp"
		}
		cp, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return "", fmt.Errorf("create container %s: invalid port %q in PortBindings", name, port)
		}
		for _, b := range bindings {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			fc.portSpecs = append(fc.portSpecs, runtime.PortBinding{
				ContainerPort: uint16(cp), HostPort: uint16(hp), HostIP: b.HostIP, Protocol: proto,
			})
		}
	}
	mounts, err := f.mountsFor(hc)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", name, err)
	}
	fc.c.Mounts = mounts
	f.containers[id] = fc
	f.names[name] = id
	f.emit(fc, runtime.EventCreate, nil)
	return id, nil
}

// mountsFor resolves Binds and Mounts, creating named local volumes that
// do not exist yet as Docker does. The caller holds f.mu.
func (f *Fake) mountsFor(hc fakeHostConfig) ([]runtime.Mount, error) {
	var out []runtime.Mount
	add := func(kind, src, dst string, ro bool) error {
		if kind == "bind" || strings.HasPrefix(src, "/") {
			out = append(out, runtime.Mount{Source: src, Destination: dst, ReadOnly: ro})
			return nil
		}
		v, err := f.createVolume(runtime.VolumeSpec{Name: src})
		if err != nil {
			return err
		}
		out = append(out, runtime.Mount{Name: v.Name, Source: v.Mountpoint, Destination: dst, ReadOnly: ro})
		return nil
	}
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			return nil, fmt.Errorf("invalid bind %q: want source:destination[:options]", b)
		}
		ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
		if err := add("", parts[0], parts[1], ro); err != nil {
			return nil, err
		}
	}
	for _, m := range hc.Mounts {
		if err := add(m.Type, m.Source, m.Target, m.ReadOnly); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// find resolves an ID, a name or a unique ID prefix. The caller holds f.mu.
func (f *Fake) find(idOrName string) *fakeContainer {
	if c := f.containers[idOrName]; c != nil {
		return c
	}
	if id, ok := f.names[strings.TrimPrefix(idOrName, "/")]; ok {
		return f.containers[id]
	}
	if idOrName == "" {
		return nil
	}
	var found *fakeContainer
	for id, c := range f.containers {
		if strings.HasPrefix(id, idOrName) {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// StartContainer starts a created or exited container.
func (f *Fake) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "StartContainer"); err != nil {
		return err
	}
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State == runtime.StateRunning {
		return nil
	}
	fc.c.State = runtime.StateRunning
	fc.c.StartedAt = f.now()
	fc.c.FinishedAt = time.Time{}
	fc.c.ExitCode = 0
	fc.c.OOMKilled = false
	fc.exited = make(chan struct{})
	fc.c.Ports = nil
	for _, p := range fc.portSpecs {
		if p.HostPort == 0 {
			p.HostPort = f.nextPort
			f.nextPort++
		}
		if p.HostIP == "" {
			p.HostIP = "0.0.0.0"
			if f.ipv6 {
				v6 := p
				v6.HostIP = "::"
				fc.c.Ports = append(fc.c.Ports, p, v6)
				continue
			}
		}
		fc.c.Ports = append(fc.c.Ports, p)
	}
	f.emit(fc, runtime.EventStart, nil)
	if !fc.runs {
		f.exit(fc, fc.exitCode)
		return nil
	}
	if fc.health != "" {
		fc.c.Health = runtime.HealthStarting
		if fc.health != runtime.HealthStarting {
			f.setHealth(fc, fc.health)
		}
	}
	return nil
}

// exit moves a running container to exited. The caller holds f.mu.
func (f *Fake) exit(fc *fakeContainer, code int) {
	fc.c.State = runtime.StateExited
	fc.c.ExitCode = code
	fc.c.FinishedAt = f.now()
	fc.c.Ports = nil // Docker reports no bindings for a stopped container
	if fc.c.Health != "" {
		// Docker marks a stopped container with a health check unhealthy
		// (without an event).
		fc.c.Health = runtime.HealthUnhealthy
	}
	close(fc.exited)
	f.emit(fc, runtime.EventDie, &code)
}

func (f *Fake) setHealth(fc *fakeContainer, status string) {
	if fc.c.Health == status {
		return
	}
	fc.c.Health = status
	f.emitHealth(fc, status)
}

// StopContainer sends SIGTERM, then SIGKILL after timeout.
func (f *Fake) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	if err := f.enter(ctx, "StopContainer"); err != nil {
		f.mu.Unlock()
		return err
	}
	fc := f.find(id)
	if fc == nil {
		f.mu.Unlock()
		return notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		f.mu.Unlock()
		return nil
	}
	f.emit(fc, runtime.EventKill, nil)
	if !fc.ignoreTerm {
		f.exit(fc, 143)
		f.emit(fc, runtime.EventStop, nil)
		f.mu.Unlock()
		return nil
	}
	exited := fc.exited
	f.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", id, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc.c.State == runtime.StateRunning {
		f.emit(fc, runtime.EventKill, nil)
		f.exit(fc, 137)
	}
	f.emit(fc, runtime.EventStop, nil)
	return nil
}

// RemoveContainer removes a container, killing it first if it runs.
func (f *Fake) RemoveContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "RemoveContainer"); err != nil {
		return err
	}
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State == runtime.StateRunning {
		f.emit(fc, runtime.EventKill, nil)
		f.exit(fc, 137)
	}
	delete(f.containers, fc.c.ID)
	delete(f.names, fc.c.Name)
	f.emit(fc, runtime.EventDestroy, nil)
	return nil
}

// InspectContainer describes a container by ID or name.
func (f *Fake) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "InspectContainer"); err != nil {
		return runtime.Container{}, err
	}
	fc := f.find(idOrName)
	if fc == nil {
		return runtime.Container{}, notFound("no such container: %s", idOrName)
	}
	return cloneContainer(fc.c), nil
}

func cloneContainer(c runtime.Container) runtime.Container {
	c.Labels = copyMap(c.Labels)
	c.Ports = slices.Clone(c.Ports)
	c.Mounts = slices.Clone(c.Mounts)
	return c
}

// ListContainers lists containers carrying every label in labels.
func (f *Fake) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "ListContainers"); err != nil {
		return nil, err
	}
	var out []runtime.ContainerSummary
	for _, fc := range f.containers {
		if matchLabels(fc.c.Labels, labels) {
			out = append(out, runtime.ContainerSummary{
				ID: fc.c.ID, Name: fc.c.Name, Labels: copyMap(fc.c.Labels), State: fc.c.State,
			})
		}
	}
	slices.SortFunc(out, func(a, b runtime.ContainerSummary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Exit makes a running container exit with code, as if its process ended.
func (f *Fake) Exit(id string, code int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		return fmt.Errorf("container %s is %s, not running", id, fc.c.State)
	}
	f.exit(fc, code)
	return nil
}

// OOMKill makes a running container die as the kernel's OOM killer ends
// it: an oom event, then die with 137, and OOMKilled set.
func (f *Fake) OOMKill(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		return fmt.Errorf("container %s is %s, not running", id, fc.c.State)
	}
	fc.c.OOMKilled = true
	f.emit(fc, runtime.EventOOM, nil)
	f.exit(fc, 137)
	return nil
}

// SetHealth sets a running container's health status, emitting a
// health_status event when it changes.
func (f *Fake) SetHealth(id, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		return fmt.Errorf("container %s is %s, not running", id, fc.c.State)
	}
	f.setHealth(fc, status)
	return nil
}

// Containers returns every container, for assertions.
func (f *Fake) Containers() []runtime.Container {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runtime.Container, 0, len(f.containers))
	for _, fc := range f.containers {
		out = append(out, cloneContainer(fc.c))
	}
	slices.SortFunc(out, func(a, b runtime.Container) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}
