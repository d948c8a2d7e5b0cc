package introspection

import "time"

// Snapshot is everything the introspection API serves. A published Snapshot
// is immutable: publishers build a new one for every change and readers
// never lock engine state.
type Snapshot struct {
	Metadata MetadataResponse
	Tasks    []TaskResponse
}

// MetadataResponse is the body of GET /v1/metadata.
type MetadataResponse struct {
	Cluster              string
	ContainerInstanceArn string
	Version              string
}

// TasksResponse is the body of GET /v1/tasks.
type TasksResponse struct {
	Tasks []TaskResponse
}

// TaskResponse is one task as the incumbent's v1 API shows it. Statuses are
// backend strings (PENDING, RUNNING, STOPPED). Containers has no omitempty:
// the incumbent's error body is an empty TaskResponse with "Containers":null.
type TaskResponse struct {
	Arn           string
	DesiredStatus string `json:",omitempty"`
	KnownStatus   string
	Family        string
	Version       string
	Containers    []ContainerResponse
}

// ContainerResponse is one container of a TaskResponse.
type ContainerResponse struct {
	DockerID     string            `json:"DockerId"`
	DockerName   string            `json:"DockerName"`
	Name         string            `json:"Name"`
	Image        string            `json:"Image"`
	ImageID      string            `json:"ImageID"`
	CreatedAt    *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt    *time.Time        `json:"StartedAt,omitempty"`
	Ports        []PortResponse    `json:"Ports,omitempty"`
	Networks     []NetworkResponse `json:"Networks,omitempty"`
	Volumes      []VolumeResponse  `json:"Volumes,omitempty"`
	RestartCount *int              `json:"RestartCount,omitempty"`
}

// PortResponse is one port binding of a container.
type PortResponse struct {
	ContainerPort uint16 `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      uint16 `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

// NetworkResponse is one network of an awsvpc container.
type NetworkResponse struct {
	NetworkMode   string   `json:"NetworkMode,omitempty"`
	IPv4Addresses []string `json:"IPv4Addresses,omitempty"`
	IPv6Addresses []string `json:"IPv6Addresses,omitempty"`
}

// VolumeResponse is one mount of a container.
type VolumeResponse struct {
	DockerName  string `json:"DockerName,omitempty"`
	Source      string `json:"Source,omitempty"`
	Destination string `json:"Destination,omitempty"`
}
