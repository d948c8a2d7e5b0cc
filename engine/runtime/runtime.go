// Package runtime declares what the task engine needs from a container
// runtime: the few Docker Engine calls it makes, in agent-owned types. The
// real implementation is engine/dockerapi; engine/enginetest has a
// state-keeping fake. Both pass the conformance suite in
// engine/enginetest (RunConformance), so unit tests on the fake say
// something about the real engine.
//
// Container create parameters travel as Docker Engine API JSON (the body of
// POST /containers/create, split into Config and HostConfig). That format is
// the contract ECS itself uses (dockerConfig.config and hostConfig in ACS
// payloads are Docker API JSON), so the engine can overlay them without this
// package mirroring every Docker field.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them so callers can use errors.Is.
var (
	// ErrNotFound: no such container, image or volume.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a container or volume with that name already exists.
	ErrConflict = errors.New("name already in use")
	// ErrAuth: the registry refused the credentials (or needs some).
	ErrAuth = errors.New("registry authentication failed")
	// ErrPullInactive: a pull made no progress for PullOptions.InactivityTimeout.
	ErrPullInactive = errors.New("image pull made no progress")
)

// Runtime is the container runtime as the engine uses it. Every method is
// safe for concurrent use.
type Runtime interface {
	// PullImage pulls ref (e.g. "127.0.0.1:5000/app:1" or "busybox"; no tag
	// means "latest"). It returns when the pull is complete.
	PullImage(ctx context.Context, ref string, opts PullOptions) error
	// InspectImage describes a local image by reference or ID (ErrNotFound).
	InspectImage(ctx context.Context, ref string) (Image, error)
	// RemoveImage removes an image by ID or reference (ErrNotFound); it
	// fails if a container uses it.
	RemoveImage(ctx context.Context, ref string) error

	// CreateContainer creates a container; ErrConflict if the name is taken.
	CreateContainer(ctx context.Context, spec CreateSpec) (id string, err error)
	// StartContainer starts a created or exited container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal), then SIGKILL
	// after timeout. Stopping a stopped container is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// InspectContainer describes a container by ID or name (ErrNotFound).
	InspectContainer(ctx context.Context, idOrName string) (Container, error)
	// RemoveContainer removes a container and its anonymous volumes, even
	// if it is running. ErrNotFound if it is already gone.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists all containers (running or not) carrying every
	// label in labels (value "" matches any value).
	ListContainers(ctx context.Context, labels map[string]string) ([]ContainerSummary, error)

	// Events streams container events from now on until ctx ends or the
	// stream breaks; the error channel then receives one error (nil when ctx
	// ended) and both channels are closed. Callers reconnect and relist.
	Events(ctx context.Context) (<-chan Event, <-chan error)

	// CreateVolume creates a named local or driver volume; creating an
	// existing volume with the same driver returns it (Docker semantics).
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	// InspectVolume describes a volume (ErrNotFound).
	InspectVolume(ctx context.Context, name string) (Volume, error)
	// RemoveVolume removes a volume (ErrNotFound).
	RemoveVolume(ctx context.Context, name string) error
}

// RegistryAuth is what a registry login needs. It is never logged.
type RegistryAuth struct {
	Username      string
	Password      string
	Email         string
	ServerAddress string
	IdentityToken string
}

// PullOptions tune one pull.
type PullOptions struct {
	Auth *RegistryAuth // nil pulls anonymously
	// InactivityTimeout aborts the pull with ErrPullInactive when no
	// progress message arrives for this long; 0 disables it.
	InactivityTimeout time.Duration
	// Progress, if set, receives progress lines ("Pulling fs layer",
	// "Downloading 12.3MB/40MB", "Pull complete").
	Progress func(line string)
}

// Image is a local image.
type Image struct {
	ID          string // "sha256:..."
	RepoTags    []string
	RepoDigests []string
	Size        int64
	Created     time.Time
}

// CreateSpec is one container to create. Config and HostConfig are Docker
// Engine API JSON objects (container.Config and container.HostConfig).
type CreateSpec struct {
	Name       string
	Config     json.RawMessage
	HostConfig json.RawMessage
}

// Container state strings, as Docker reports them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StateDead       = "dead"
	StateRemoving   = "removing"
)

// Health status strings ("" means the container has no health check).
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Container is an inspected container.
type Container struct {
	ID         string
	Name       string // without the leading "/"
	Image      string // the reference it was created from
	ImageID    string
	Labels     map[string]string
	State      string // one of the State* constants
	ExitCode   int
	Error      string // the engine's error, e.g. from a failed start
	OOMKilled  bool
	Health     string // one of the Health* constants or ""
	CreatedAt  time.Time
	StartedAt  time.Time // zero if never started
	FinishedAt time.Time // zero if never stopped
	Ports      []PortBinding
	Mounts     []Mount
	Networks   []Network // sorted by name; none for network mode none
}

// Network is one network a container is attached to. The addresses are what
// the task metadata endpoint reports, and what tells a bridge-mode caller's
// task from its source address.
type Network struct {
	Name        string // "bridge", "host" or a user-defined network
	IPv4Address string // "" when the network gives none (host)
	IPv6Address string
}

// PortBinding is one published port.
type PortBinding struct {
	ContainerPort uint16
	HostPort      uint16
	HostIP        string
	Protocol      string // "tcp" or "udp"
}

// Mount is one volume or bind mount of a container.
type Mount struct {
	Name        string // volume name, "" for a bind mount
	Source      string
	Destination string
	ReadOnly    bool
}

// ContainerSummary is one entry of ListContainers.
type ContainerSummary struct {
	ID     string
	Name   string // without the leading "/"
	Labels map[string]string
	State  string
}

// Event actions the engine acts on (Docker's container event actions).
const (
	EventCreate  = "create"
	EventStart   = "start"
	EventDie     = "die"
	EventStop    = "stop"
	EventKill    = "kill"
	EventOOM     = "oom"
	EventDestroy = "destroy"
	EventHealth  = "health_status" // Health holds the new status
)

// Event is one container event.
type Event struct {
	ContainerID string
	Action      string // one of the Event* constants (health events normalised)
	ExitCode    *int   // set for die
	Health      string // set for EventHealth
	Labels      map[string]string
	Time        time.Time
}

// VolumeSpec is one volume to create.
type VolumeSpec struct {
	Name       string
	Driver     string // "" means "local"
	DriverOpts map[string]string
	Labels     map[string]string
}

// Volume is a created or inspected volume.
type Volume struct {
	Name       string
	Driver     string
	Mountpoint string
	Labels     map[string]string
}
