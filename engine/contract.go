package engine

// This file is the engine's public surface, agreed before the engine was
// written so that the agent wiring (payload handler, state-change submitter,
// introspection) could be built alongside it. Change it only together with
// its callers in agent/.

import (
	"time"
)

// Backend status strings, as SubmitTaskStateChange and introspection use them.
const (
	StatusPending = "PENDING"
	StatusRunning = "RUNNING"
	StatusStopped = "STOPPED"
)

// TaskReport is the newest reportable state of one task: what the
// state-change submitter sends as SubmitTaskStateChange. Version grows with
// every change of the reportable state; the submitter sends the newest
// report and acknowledges it with MarkReported, which persists it, so a
// restarted agent resends only what was never acknowledged.
type TaskReport struct {
	TaskARN            string
	Version            uint64
	Status             string // PENDING, RUNNING or STOPPED
	Reason             string // ≤1024 bytes; set when the task stopped for a reason
	PullStartedAt      *time.Time
	PullStoppedAt      *time.Time
	ExecutionStoppedAt *time.Time
	Containers         []ContainerReport
}

// ContainerReport is one container inside a TaskReport.
type ContainerReport struct {
	Name            string
	RuntimeID       string // Docker ID
	ImageDigest     string
	Status          string // PENDING, RUNNING or STOPPED
	ExitCode        *int
	Reason          string
	NetworkBindings []NetworkBinding
}

// NetworkBinding is one published port, as ECS reports it.
type NetworkBinding struct {
	BindIP             string
	ContainerPort      int
	HostPort           int
	Protocol           string // "tcp" or "udp"
	ContainerPortRange string // "a-b" for ranges
	HostPortRange      string
}

// TaskSnapshot is an immutable copy of one task for readers (introspection,
// the task metadata endpoint and TCS). Statuses are backend strings.
type TaskSnapshot struct {
	ARN                string
	ClusterARN         string // the task's cluster as ACS named it; "" if it did not
	Family             string
	Version            string
	DesiredStatus      string
	KnownStatus        string
	NetworkMode        string  // bridge, host or none
	CPU                float64 // task-level vCPU; 0 = none
	MemoryMiB          int     // task-level memory; 0 = none
	PullStartedAt      *time.Time
	PullStoppedAt      *time.Time
	ExecutionStoppedAt *time.Time
	ServiceName        string
	Group              string
	LaunchType         string
	// RoleARN and CredentialsID are the task IAM role and the ID of its
	// credentials; the execution role's are apart: containers never get
	// them.
	RoleARN                string
	CredentialsID          string
	ExecutionRoleARN       string
	ExecutionCredentialsID string
	Containers             []ContainerSnapshot
}

// ContainerSnapshot is one container of a TaskSnapshot.
type ContainerSnapshot struct {
	Name          string
	DockerID      string
	DockerName    string
	Image         string
	ImageID       string
	DesiredStatus string
	KnownStatus   string
	ExitCode      *int
	CreatedAt     time.Time // zero if not created
	StartedAt     time.Time // zero if not started
	FinishedAt    time.Time // zero if not stopped
	Ports         []NetworkBinding
	Volumes       []VolumeSnapshot
	RestartCount  int
	Health        string // "", HEALTHY, UNHEALTHY or UNKNOWN
	// EndpointID is the container's ID in its task metadata URIs.
	EndpointID string
	CPU        int // shares
	MemoryMiB  int // hard limit; 0 = none
	Labels     map[string]string
	LogDriver  string
	LogOptions map[string]string
	Networks   []ContainerNetwork
}

// ContainerNetwork is one network a container is attached to.
type ContainerNetwork struct {
	Name        string // bridge, host or a user-defined network
	IPv4Address string
	IPv6Address string
}

// VolumeSnapshot is one mount of a container.
type VolumeSnapshot struct {
	DockerName  string
	Source      string
	Destination string
}
