package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/acs/wire"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
)

// status is a container or task known/desired status. The ordinals follow
// the ECS agent's, so "later in the life cycle" is a plain comparison.
type status int

const (
	statusNone           status = 0
	statusManifestPulled status = 1
	statusPulled         status = 2
	statusCreated        status = 3
	statusRunning        status = 4
	statusStopped        status = 6
)

var statusNames = map[status]string{
	statusNone: "NONE", statusManifestPulled: "MANIFEST_PULLED", statusPulled: "PULLED",
	statusCreated: "CREATED", statusRunning: "RUNNING", statusStopped: "STOPPED",
}

func (s status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// backend is the status string SubmitTaskStateChange and introspection use.
func (s status) backend() string {
	switch {
	case s == statusStopped:
		return StatusStopped
	case s == statusRunning:
		return StatusRunning
	default:
		return StatusPending
	}
}

func (s status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *status) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("status must be a string such as \"RUNNING\": %w", err)
	}
	for k, v := range statusNames {
		if v == name {
			*s = k
			return nil
		}
	}
	switch name {
	case "UNKNOWN":
		*s = statusNone
	case "DEAD":
		*s = statusStopped
	default:
		return fmt.Errorf("unknown status %q", name)
	}
	return nil
}

// Network modes the engine supports.
const (
	networkBridge = "bridge"
	networkHost   = "host"
	networkNone   = "none"
)

// Dependency conditions; condCreate is the implicit one volumesFrom adds.
const (
	condCreate   = "CREATE"
	condStart    = string(wire.ContainerConditionStart)
	condComplete = string(wire.ContainerConditionComplete)
	condSuccess  = string(wire.ContainerConditionSuccess)
	condHealthy  = string(wire.ContainerConditionHealthy)
)

// Health strings as introspection reports them.
const (
	healthHealthy   = "HEALTHY"
	healthUnhealthy = "UNHEALTHY"
	healthUnknown   = "UNKNOWN"
)

// task is the engine's model of one task. It is owned by exactly one
// worker goroutine and has no lock; the JSON is what agent.db stores under
// tasks/<taskID> (field names close to the ECS agent's).
type task struct {
	ARN                string     `json:"Arn"`
	ID                 string     `json:"-"`
	Family             string     `json:"Family"`
	Version            string     `json:"Version"`
	ClusterARN         string     `json:"ClusterArn,omitempty"`
	NetworkMode        string     `json:"NetworkMode"`
	PIDMode            string     `json:"PidMode,omitempty"`
	IPCMode            string     `json:"IpcMode,omitempty"`
	CPU                int        `json:"Cpu,omitempty"`    // shares (vCPU×1024)
	MemoryMiB          int        `json:"Memory,omitempty"` // task-level memory
	DesiredStatus      status     `json:"DesiredStatus"`
	KnownStatus        status     `json:"KnownStatus"`
	KnownTime          time.Time  `json:"KnownTime"`
	PullStartedAt      *time.Time `json:"PullStartedAt,omitempty"`
	PullStoppedAt      *time.Time `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time `json:"ExecutionStoppedAt,omitempty"`
	StopReason         string     `json:"StoppedReason,omitempty"`
	Volumes            []*volume  `json:"volumes,omitempty"`
	ContainerNames     []string   `json:"ContainerNames"`
	ServiceName        string     `json:"ServiceName,omitempty"`
	Group              string     `json:"Group,omitempty"`
	LaunchType         string     `json:"LaunchType,omitempty"`
	ResourcesAcquired  bool       `json:"ResourcesAcquired,omitempty"`
	// VolumesCreated: the task's volumes and its cgroup (CgroupParent, for
	// a task with task-level cpu or memory) exist.
	VolumesCreated bool   `json:"VolumesCreated,omitempty"`
	CgroupParent   string `json:"CgroupParent,omitempty"`
	// The task's IAM roles: the IDs ACS gave their credentials, which are
	// not secret (the credentials themselves are only ever in memory, in
	// agent/credentials). Containers find theirs at
	// /v2/credentials/<CredentialsID>.
	RoleARN                string `json:"RoleArn,omitempty"`
	CredentialsID          string `json:"credentialsId,omitempty"`
	ExecutionRoleARN       string `json:"ExecutionRoleArn,omitempty"`
	ExecutionCredentialsID string `json:"executionCredentialsId,omitempty"`
	// ReportVersion and LastReport: the newest reportable state and its
	// version. SentVersion: the newest version the backend acknowledged.
	ReportVersion uint64      `json:"ReportVersion"`
	SentVersion   uint64      `json:"SentVersion"`
	LastReport    *TaskReport `json:"LastReport,omitempty"`

	Containers []*container `json:"-"` // stored under containers/<taskID>-<name>
}

// volume is one task volume.
type volume struct {
	Name          string            `json:"name"`
	Kind          string            `json:"type"` // host, local (agent-managed) or docker
	SourcePath    string            `json:"sourcePath,omitempty"`
	DockerName    string            `json:"dockerName,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Shared        bool              `json:"shared,omitempty"`
	Autoprovision bool              `json:"autoprovision,omitempty"`
}

// Volume kinds.
const (
	volumeHost   = "host"
	volumeLocal  = "local" // host volume without sourcePath: agent-managed
	volumeDocker = "docker"
)

// dependency is one dependsOn entry, explicit or implied by links and
// volumesFrom.
type dependency struct {
	Name      string `json:"containerName"`
	Condition string `json:"condition"`
}

// portMapping is one wire port mapping, normalised.
type portMapping struct {
	ContainerPort      int    `json:"containerPort,omitempty"`
	ContainerPortRange string `json:"containerPortRange,omitempty"`
	HostPort           int    `json:"hostPort,omitempty"`
	Protocol           string `json:"protocol"`
}

// container is one container of a task, owned by the task's worker.
type container struct {
	Name            string                `json:"Name"`
	Image           string                `json:"Image"`
	Command         []string              `json:"Command,omitempty"`
	EntryPoint      []string              `json:"EntryPoint,omitempty"`
	Environment     map[string]string     `json:"environment,omitempty"`
	Essential       bool                  `json:"Essential"`
	CPU             int                   `json:"Cpu,omitempty"`
	Memory          int                   `json:"Memory,omitempty"`
	Links           []string              `json:"Links,omitempty"`
	PortMappings    []portMapping         `json:"portMappings,omitempty"`
	MountPoints     []wire.MountPoint     `json:"mountPoints,omitempty"`
	VolumesFrom     []wire.VolumeFrom     `json:"volumesFrom,omitempty"`
	DependsOn       []dependency          `json:"dependsOn,omitempty"`
	DockerConfig    wire.DockerConfig     `json:"dockerConfig"`
	Privileged      bool                  `json:"privileged,omitempty"`
	HealthCheckType string                `json:"healthCheckType,omitempty"`
	StartTimeout    int                   `json:"StartTimeout,omitempty"`
	StopTimeout     int                   `json:"StopTimeout,omitempty"`
	RestartPolicy   *wire.RestartPolicy   `json:"restartPolicy,omitempty"`
	LinuxParameters *wire.LinuxParameters `json:"linuxParameters,omitempty"`

	DesiredStatus     status            `json:"desiredStatus"`
	KnownStatus       status            `json:"KnownStatus"`
	KnownExitCode     *int              `json:"KnownExitCode,omitempty"`
	KnownPortBindings []NetworkBinding  `json:"KnownPortBindings,omitempty"`
	Reason            string            `json:"ApplyingError,omitempty"`
	ImageID           string            `json:"ImageID,omitempty"`
	ImageDigest       string            `json:"ImageDigest,omitempty"`
	Labels            map[string]string `json:"Labels,omitempty"`
	CreatedAt         time.Time         `json:"createdAt"`
	StartedAt         time.Time         `json:"startedAt"`
	FinishedAt        time.Time         `json:"finishedAt"`
	Health            string            `json:"health,omitempty"`
	RestartCount      int               `json:"restartCount,omitempty"`
	LastRestartAt     time.Time         `json:"lastRestartAt"`
	Mounts            []VolumeSnapshot  `json:"mounts,omitempty"`
	Networks          []rt.Network      `json:"networks,omitempty"`
	ImageInUse        bool              `json:"imageInUse,omitempty"`
	// EndpointID is the container's random ID in its task metadata URIs
	// (/v3/<id>, /v4/<id>). It is baked into the container's environment,
	// so it is persisted and never changes.
	EndpointID string `json:"v3EndpointId,omitempty"`
	// MetadataReady: the container metadata file says READY.
	MetadataReady bool `json:"metadataReady,omitempty"`

	// DockerID and DockerName live in the record envelope.
	DockerID   string `json:"-"`
	DockerName string `json:"-"`

	meta *dockerMeta // derived from DockerConfig on first use; never stored
}

// containerRecord is what agent.db stores under containers/<taskID>-<name>.
type containerRecord struct {
	DockerID   string     `json:"DockerId,omitempty"`
	DockerName string     `json:"DockerName,omitempty"`
	Container  *container `json:"Container"`
}

// taskID is the last segment of a task ARN.
func taskID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func containerKey(taskID, name string) string { return taskID + "-" + name }

// imageKey is the containerKey engine/images expects.
func imageKey(taskID, name string) string { return taskID + "/" + name }

func (t *task) container(name string) *container {
	for _, c := range t.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// dependents lists the containers that depend on name.
func (t *task) dependents(name string) []*container {
	var out []*container
	for _, c := range t.Containers {
		for _, d := range c.DependsOn {
			if d.Name == name {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func (t *task) volume(name string) *volume {
	for _, v := range t.Volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}
