package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// fakeContainer is one container and the Program its process runs.
type fakeContainer struct {
	c         runtime.Container
	prog      Program
	hasHealth bool // created with a Healthcheck
	portSpecs []runtime.PortBinding
	exited    chan struct{} // closed when a running container exits
}

// fakeConfig is the part of Docker's container.Config the fake reads. The
// command is not among it: what the process does is its image's Program.
type fakeConfig struct {
	Image       string
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
	if err := f.enter(ctx, "CreateContainer"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
	fc := &fakeContainer{
		c: runtime.Container{
			ID: id, Name: name, Image: cfg.Image, ImageID: img.ID, Labels: copyMap(cfg.Labels),
			State: runtime.StateCreated, CreatedAt: f.now(),
		},
		prog:      f.programFor(cfg.Image, img),
		hasHealth: cfg.Healthcheck != nil && len(cfg.Healthcheck.Test) > 0 && cfg.Healthcheck.Test[0] != "NONE",
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

// RemoveContainer removes a container, killing it first if it runs.
func (f *Fake) RemoveContainer(ctx context.Context, id string) error {
	if err := f.enter(ctx, "RemoveContainer"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State == runtime.StateRunning {
		f.emit(fc, runtime.EventKill, nil)
		f.exit(fc, exitCodeSIGKILL)
	}
	delete(f.containers, fc.c.ID)
	delete(f.names, fc.c.Name)
	f.emit(fc, runtime.EventDestroy, nil)
	return nil
}

// InspectContainer describes a container by ID or name.
func (f *Fake) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	if err := f.enter(ctx, "InspectContainer"); err != nil {
		return runtime.Container{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
	if err := f.enter(ctx, "ListContainers"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
