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
// later task metadata and TCS). Statuses are backend strings.
type TaskSnapshot struct {
	ARN           string
	Family        string
	Version       string
	DesiredStatus string
	KnownStatus   string
	Containers    []ContainerSnapshot
}

// ContainerSnapshot is one container of a TaskSnapshot.
type ContainerSnapshot struct {
	Name         string
	DockerID     string
	DockerName   string
	Image        string
	ImageID      string
	KnownStatus  string
	ExitCode     *int
	CreatedAt    time.Time // zero if not created
	StartedAt    time.Time // zero if not started
	Ports        []NetworkBinding
	Volumes      []VolumeSnapshot
	RestartCount int
	Health       string // "", HEALTHY, UNHEALTHY or UNKNOWN
}

// VolumeSnapshot is one mount of a container.
type VolumeSnapshot struct {
	DockerName  string
	Source      string
	Destination string
}
