package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// Proves the adapter fits the engine's interface.
var _ runtime.Runtime = (*Client)(nil)

// CreateContainer creates a container from Docker Engine API JSON.
func (c *Client) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (string, error) {
	var cfg container.Config
	if len(spec.Config) > 0 {
		if err := json.Unmarshal(spec.Config, &cfg); err != nil {
			return "", fmt.Errorf("create container %s: decode Config (Docker Engine API JSON): %w", spec.Name, err)
		}
	}
	var hc container.HostConfig
	if len(spec.HostConfig) > 0 {
		if err := json.Unmarshal(spec.HostConfig, &hc); err != nil {
			return "", fmt.Errorf("create container %s: decode HostConfig (Docker Engine API JSON): %w", spec.Name, err)
		}
	}
	resp, err := c.c.ContainerCreate(ctx, &cfg, &hc, nil, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, classify(err, true))
	}
	return resp.ID, nil
}

// StartContainer starts a created or exited container.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	if err := c.c.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", id, classify(err, false))
	}
	return nil
}

// StopContainer stops a container, escalating to SIGKILL after timeout.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	// Docker takes whole seconds; round up so a sub-second timeout still
	// gives the process a chance to exit cleanly.
	secs := int((timeout + time.Second - 1) / time.Second)
	if err := c.c.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, classify(err, false))
	}
	return nil
}

// RemoveContainer removes a container, running or not, with its anonymous
// volumes.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	err := c.c.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, classify(err, false))
	}
	return nil
}

// ListContainers lists all containers carrying every label in labels.
func (c *Client) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerSummary, error) {
	f := filters.NewArgs()
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	list, err := c.c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", classify(err, false))
	}
	out := make([]runtime.ContainerSummary, 0, len(list))
	for _, s := range list {
		name := ""
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, runtime.ContainerSummary{ID: s.ID, Name: name, Labels: s.Labels, State: s.State})
	}
	return out, nil
}

// InspectContainer describes a container by ID or name.
func (c *Client) InspectContainer(ctx context.Context, idOrName string) (runtime.Container, error) {
	r, err := c.c.ContainerInspect(ctx, idOrName)
	if err != nil {
		return runtime.Container{}, fmt.Errorf("inspect container %s: %w", idOrName, classify(err, false))
	}
	return containerFromInspect(r), nil
}

// containerFromInspect converts Docker's inspect document. Every pointer in
// it may be nil on odd engines, so each is checked.
func containerFromInspect(r container.InspectResponse) runtime.Container {
	var out runtime.Container
	if r.ContainerJSONBase != nil {
		out.ID = r.ID
		out.ImageID = r.Image
		out.Name = strings.TrimPrefix(r.Name, "/")
		out.CreatedAt = parseDockerTime(r.Created)
		if s := r.State; s != nil {
			out.State = s.Status
			out.ExitCode = s.ExitCode
			out.Error = s.Error
			out.OOMKilled = s.OOMKilled
			out.StartedAt = parseDockerTime(s.StartedAt)
			out.FinishedAt = parseDockerTime(s.FinishedAt)
			if s.Health != nil {
				out.Health = s.Health.Status
			}
		}
	}
	if r.Config != nil {
		out.Image = r.Config.Image
		out.Labels = r.Config.Labels
	}
	if r.NetworkSettings != nil {
		out.Ports = portsFromMap(r.NetworkSettings.Ports)
		out.Networks = networksFrom(r.NetworkSettings.Networks)
	}
	for _, m := range r.Mounts {
		out.Mounts = append(out.Mounts, runtime.Mount{
			Name: m.Name, Source: m.Source, Destination: m.Destination, ReadOnly: !m.RW,
		})
	}
	return out
}

// networksFrom lists a container's network attachments, sorted by name.
func networksFrom(m map[string]*network.EndpointSettings) []runtime.Network {
	out := make([]runtime.Network, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		n := runtime.Network{Name: name}
		if ep := m[name]; ep != nil {
			n.IPv4Address, n.IPv6Address = ep.IPAddress, ep.GlobalIPv6Address
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// portsFromMap flattens Docker's port map; exposed ports without a host
// binding are left out because nothing can reach them from the host.
func portsFromMap(pm nat.PortMap) []runtime.PortBinding {
	var out []runtime.PortBinding
	for port, bindings := range pm {
		for _, b := range bindings {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			out = append(out, runtime.PortBinding{
				ContainerPort: uint16(port.Int()),
				HostPort:      uint16(hp),
				HostIP:        b.HostIP,
				Protocol:      port.Proto(),
			})
		}
	}
	return out
}

// parseDockerTime parses Docker's RFC 3339 timestamps; Docker writes
// "0001-01-01T00:00:00Z" for "never", which becomes the zero time.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
