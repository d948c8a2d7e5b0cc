package taskserver

import (
	"strconv"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/engine"
)

// The response shapes of the v2, v3 and v4 routes (reference §9.2). v3
// serves the v2 shapes; v4 adds its members on top.

// TaskResponse is a task, v2 and v3.
type TaskResponse struct {
	Cluster               string              `json:"Cluster"`
	TaskARN               string              `json:"TaskARN"`
	Family                string              `json:"Family"`
	Revision              string              `json:"Revision"`
	DesiredStatus         string              `json:"DesiredStatus,omitempty"`
	KnownStatus           string              `json:"KnownStatus"`
	Containers            []ContainerResponse `json:"Containers,omitempty"`
	Limits                *LimitsResponse     `json:"Limits,omitempty"`
	PullStartedAt         *time.Time          `json:"PullStartedAt,omitempty"`
	PullStoppedAt         *time.Time          `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt    *time.Time          `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone      string              `json:"AvailabilityZone,omitempty"`
	TaskTags              map[string]string   `json:"TaskTags,omitempty"`
	ContainerInstanceTags map[string]string   `json:"ContainerInstanceTags,omitempty"`
	LaunchType            string              `json:"LaunchType,omitempty"`
	Errors                []ErrorResponse     `json:"Errors,omitempty"`
}

// ContainerResponse is a container, v2 and v3.
type ContainerResponse struct {
	ID            string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Ports         []PortResponse    `json:"Ports,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        LimitsResponse    `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	Networks      []NetworkResponse `json:"Networks,omitempty"`
	Health        *HealthResponse   `json:"Health,omitempty"`
	Volumes       []VolumeResponse  `json:"Volumes,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	LogOptions    map[string]string `json:"LogOptions,omitempty"`
	ContainerARN  string            `json:"ContainerARN,omitempty"`
}

// LimitsResponse: CPU is vCPU for a task and CPU shares for a container;
// Memory is MiB.
type LimitsResponse struct {
	CPU    *float64 `json:"CPU,omitempty"`
	Memory *int64   `json:"Memory,omitempty"`
}

// PortResponse is one published port.
type PortResponse struct {
	ContainerPort int    `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      int    `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

// NetworkResponse is one network of a container, v2 and v3.
type NetworkResponse struct {
	NetworkMode   string   `json:"NetworkMode"`
	IPv4Addresses []string `json:"IPv4Addresses,omitempty"`
	IPv6Addresses []string `json:"IPv6Addresses,omitempty"`
}

// HealthResponse is a container's health check status.
type HealthResponse struct {
	Status string `json:"status"`
}

// VolumeResponse is one mount of a container.
type VolumeResponse struct {
	DockerName  string `json:"DockerName,omitempty"`
	Source      string `json:"Source,omitempty"`
	Destination string `json:"Destination,omitempty"`
}

// ErrorResponse says why part of a response is missing (taskWithTags).
type ErrorResponse struct {
	ErrorField   string `json:"ErrorField,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
	StatusCode   int    `json:"StatusCode,omitempty"`
	RequestID    string `json:"RequestId,omitempty"`
	ResourceARN  string `json:"ResourceARN,omitempty"`
}

// TaskResponseV4 is a task, v4.
type TaskResponseV4 struct {
	TaskResponse
	Containers            []ContainerResponseV4 `json:"Containers,omitempty"`
	ServiceName           string                `json:"ServiceName,omitempty"`
	Group                 string                `json:"Group,omitempty"`
	FaultInjectionEnabled bool                  `json:"FaultInjectionEnabled"`
}

// ContainerResponseV4 is a container, v4.
type ContainerResponseV4 struct {
	ContainerResponse
	Networks     []NetworkResponseV4 `json:"Networks,omitempty"`
	RestartCount *int                `json:"RestartCount,omitempty"`
}

// NetworkResponseV4 is one network of a container, v4. The ENI members of
// awsvpc (MAC address, subnet, DNS) stay empty: this agent runs bridge,
// host and none.
type NetworkResponseV4 struct {
	NetworkResponse
	AttachmentIndex *int `json:"AttachmentIndex,omitempty"`
}

// Container types: the agent runs only the task's own containers.
const containerTypeNormal = "NORMAL"

// taskResponse builds the v2 task shape of t.
func (s *Server) taskResponse(t *engine.TaskSnapshot) TaskResponse {
	r := TaskResponse{
		Cluster:            s.o.Cluster,
		TaskARN:            t.ARN,
		Family:             t.Family,
		Revision:           t.Version,
		DesiredStatus:      t.DesiredStatus,
		KnownStatus:        t.KnownStatus,
		PullStartedAt:      t.PullStartedAt,
		PullStoppedAt:      t.PullStoppedAt,
		ExecutionStoppedAt: t.ExecutionStoppedAt,
		AvailabilityZone:   s.o.AvailabilityZone,
		LaunchType:         t.LaunchType,
	}
	if t.CPU > 0 || t.MemoryMiB > 0 {
		r.Limits = &LimitsResponse{}
		if t.CPU > 0 {
			cpu := t.CPU
			r.Limits.CPU = &cpu
		}
		if t.MemoryMiB > 0 {
			mem := int64(t.MemoryMiB)
			r.Limits.Memory = &mem
		}
	}
	for i := range t.Containers {
		r.Containers = append(r.Containers, containerResponse(&t.Containers[i]))
	}
	return r
}

func (s *Server) taskResponseV4(t *engine.TaskSnapshot) TaskResponseV4 {
	r := TaskResponseV4{TaskResponse: s.taskResponse(t), ServiceName: t.ServiceName, Group: t.Group}
	r.TaskResponse.Containers = nil
	for i := range t.Containers {
		r.Containers = append(r.Containers, containerResponseV4(&t.Containers[i]))
	}
	return r
}

// containerResponse builds the v2 container shape of c.
func containerResponse(c *engine.ContainerSnapshot) ContainerResponse {
	cpu, mem := float64(c.CPU), int64(c.MemoryMiB)
	r := ContainerResponse{
		ID:            c.DockerID,
		Name:          c.Name,
		DockerName:    c.DockerName,
		Image:         c.Image,
		ImageID:       c.ImageID,
		Labels:        c.Labels,
		DesiredStatus: c.DesiredStatus,
		KnownStatus:   c.KnownStatus,
		ExitCode:      c.ExitCode,
		Limits:        LimitsResponse{CPU: &cpu, Memory: &mem},
		CreatedAt:     timePtr(c.CreatedAt),
		StartedAt:     timePtr(c.StartedAt),
		FinishedAt:    timePtr(c.FinishedAt),
		Type:          containerTypeNormal,
		LogDriver:     c.LogDriver,
		LogOptions:    c.LogOptions,
	}
	if c.Health != "" {
		r.Health = &HealthResponse{Status: c.Health}
	}
	for _, p := range c.Ports {
		r.Ports = append(r.Ports, ports(p)...)
	}
	for _, n := range c.Networks {
		r.Networks = append(r.Networks, networkResponse(n))
	}
	for _, v := range c.Volumes {
		r.Volumes = append(r.Volumes, VolumeResponse{DockerName: v.DockerName, Source: v.Source, Destination: v.Destination})
	}
	return r
}

func containerResponseV4(c *engine.ContainerSnapshot) ContainerResponseV4 {
	r := ContainerResponseV4{ContainerResponse: containerResponse(c)}
	r.ContainerResponse.Networks = nil
	for i, n := range c.Networks {
		index := i
		r.Networks = append(r.Networks, NetworkResponseV4{NetworkResponse: networkResponse(n), AttachmentIndex: &index})
	}
	count := c.RestartCount
	r.RestartCount = &count
	return r
}

func networkResponse(n engine.ContainerNetwork) NetworkResponse {
	r := NetworkResponse{NetworkMode: n.Name}
	if n.IPv4Address != "" {
		r.IPv4Addresses = []string{n.IPv4Address}
	}
	if n.IPv6Address != "" {
		r.IPv6Addresses = []string{n.IPv6Address}
	}
	return r
}

// ports lists a binding port by port; a range becomes one entry per port.
func ports(b engine.NetworkBinding) []PortResponse {
	if b.ContainerPortRange == "" {
		return []PortResponse{{ContainerPort: b.ContainerPort, Protocol: b.Protocol, HostPort: b.HostPort, HostIP: b.BindIP}}
	}
	clo, chi, ok1 := portRange(b.ContainerPortRange)
	hlo, _, ok2 := portRange(b.HostPortRange)
	if !ok1 || !ok2 {
		return nil
	}
	var out []PortResponse
	for i := 0; clo+i <= chi; i++ {
		out = append(out, PortResponse{ContainerPort: clo + i, Protocol: b.Protocol, HostPort: hlo + i, HostIP: b.BindIP})
	}
	return out
}

func portRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	return lo, hi, found && err1 == nil && err2 == nil && lo <= hi
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
