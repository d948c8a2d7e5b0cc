package store

import (
	"encoding/json"
	"time"
)

// Task statuses (lastStatus and desiredStatus) as ECS spells them. A task's
// lastStatus only moves forward: PENDING, RUNNING, STOPPED.
const (
	TaskPending = "PENDING"
	TaskRunning = "RUNNING"
	TaskStopped = "STOPPED"
)

// Stop codes ECS sets on stopped tasks.
const (
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeUserInitiated            = "UserInitiated"
)

// TaskStatusRank orders task statuses so state changes can be kept
// monotonic; unknown statuses rank 0, below PENDING.
func TaskStatusRank(status string) int {
	switch status {
	case TaskPending:
		return 1
	case TaskRunning:
		return 2
	case TaskStopped:
		return 3
	}
	return 0
}

// Task is one task, keyed by Cluster (name) and ID (the last ARN segment).
// The JSON tags are the ECS Task member names; Reserved and Delivery are
// the control plane's own bookkeeping, which the API layer does not send.
type Task struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`

	ARN                  string          `json:"taskArn"`
	ClusterARN           string          `json:"clusterArn"`
	TaskDefinitionARN    string          `json:"taskDefinitionArn"`
	ContainerInstanceARN string          `json:"containerInstanceArn"`
	Overrides            json.RawMessage `json:"overrides,omitempty"`
	LastStatus           string          `json:"lastStatus"`
	DesiredStatus        string          `json:"desiredStatus"`
	// CPU and Memory are strings in the ECS API (units and MiB).
	CPU              string          `json:"cpu,omitempty"`
	Memory           string          `json:"memory,omitempty"`
	Containers       []TaskContainer `json:"containers"`
	StartedBy        string          `json:"startedBy,omitempty"`
	Group            string          `json:"group,omitempty"`
	Version          int64           `json:"version"`
	StoppedReason    string          `json:"stoppedReason,omitempty"`
	StopCode         string          `json:"stopCode,omitempty"`
	Connectivity     string          `json:"connectivity,omitempty"`
	LaunchType       string          `json:"launchType"`
	AvailabilityZone string          `json:"availabilityZone,omitempty"`
	Tags             []Tag           `json:"tags,omitempty"`
	Attributes       []Attribute     `json:"attributes,omitempty"`

	CreatedAt          time.Time  `json:"createdAt"`
	ConnectivityAt     *time.Time `json:"connectivityAt,omitempty"`
	PullStartedAt      *time.Time `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *time.Time `json:"pullStoppedAt,omitempty"`
	StartedAt          *time.Time `json:"startedAt,omitempty"`
	ExecutionStoppedAt *time.Time `json:"executionStoppedAt,omitempty"`
	StoppingAt         *time.Time `json:"stoppingAt,omitempty"`
	StoppedAt          *time.Time `json:"stoppedAt,omitempty"`

	// Family and Revision name the task definition without parsing its ARN.
	Family   string `json:"family"`
	Revision int    `json:"revision"`

	Reserved Reservation  `json:"reserved"`
	Delivery TaskDelivery `json:"delivery"`
	// RoleCredentials name the credentials issued to the task for its
	// roles, at most one per role type.
	RoleCredentials []TaskRoleCredentials `json:"roleCredentials,omitempty"`
}

// Role types of TaskRoleCredentials, as ACS names them.
const (
	RoleTypeTask      = "TaskApplication"
	RoleTypeExecution = "TaskExecution"
)

// TaskRoleCredentials name the credentials of one of a task's roles. The
// keys are never stored: controlplane/roles keeps them in memory and, after
// a restart, issues new ones under the same ID, which the task's containers
// know.
type TaskRoleCredentials struct {
	Type    string `json:"type"` // RoleTypeTask or RoleTypeExecution
	ID      string `json:"credentialsId"`
	RoleARN string `json:"roleArn"`
}

// Role returns the task's credentials of a role type.
func (t Task) Role(roleType string) (TaskRoleCredentials, bool) {
	for _, r := range t.RoleCredentials {
		if r.Type == roleType {
			return r, true
		}
	}
	return TaskRoleCredentials{}, false
}

// TaskContainer is one container of a task, in the ECS Container shape.
type TaskContainer struct {
	ContainerARN      string           `json:"containerArn"`
	TaskARN           string           `json:"taskArn"`
	Name              string           `json:"name"`
	Image             string           `json:"image,omitempty"`
	ImageDigest       string           `json:"imageDigest,omitempty"`
	RuntimeID         string           `json:"runtimeId,omitempty"`
	LastStatus        string           `json:"lastStatus"`
	ExitCode          *int             `json:"exitCode,omitempty"`
	Reason            string           `json:"reason,omitempty"`
	NetworkBindings   []NetworkBinding `json:"networkBindings"`
	CPU               string           `json:"cpu,omitempty"`
	Memory            string           `json:"memory,omitempty"`
	MemoryReservation string           `json:"memoryReservation,omitempty"`
	HealthStatus      string           `json:"healthStatus,omitempty"`

	// Essential is kept to tell why a task stopped; ECS does not send it
	// in the Container shape.
	Essential bool `json:"essential"`
}

// NetworkBinding is a published port of a container, in the ECS shape.
type NetworkBinding struct {
	BindIP             string `json:"bindIP,omitempty"`
	ContainerPort      int    `json:"containerPort,omitempty"`
	HostPort           int    `json:"hostPort,omitempty"`
	Protocol           string `json:"protocol,omitempty"`
	ContainerPortRange string `json:"containerPortRange,omitempty"`
	HostPortRange      string `json:"hostPortRange,omitempty"`
}

// Reservation is what a task holds on its container instance until its
// lastStatus is STOPPED: the instance's remaining resources are its
// registered ones minus the reservations of its tasks that are not STOPPED.
type Reservation struct {
	CPU       int   `json:"cpu"`
	MemoryMiB int   `json:"memoryMiB"`
	PortsTCP  []int `json:"portsTcp,omitempty"`
	PortsUDP  []int `json:"portsUdp,omitempty"`
}

// Holds reports whether the task's reservation still counts against its
// instance.
func (t Task) Holds() bool { return t.LastStatus != TaskStopped }

// TaskDelivery is the ACS delivery state of a task. The agent has the
// task's current desired status once AckedDesiredStatus equals it; until
// then the control plane keeps sending it (across its own restarts too).
type TaskDelivery struct {
	// MessageID is the PayloadMessage that last carried the task.
	MessageID          string     `json:"messageId,omitempty"`
	AckedDesiredStatus string     `json:"ackedDesiredStatus,omitempty"`
	AckedAt            *time.Time `json:"ackedAt,omitempty"`
}

// NeedsDelivery reports whether the agent has not acknowledged the task's
// current desired status. A task that already reached STOPPED needs
// nothing more.
func (t Task) NeedsDelivery() bool {
	return t.Delivery.AckedDesiredStatus != t.DesiredStatus && t.LastStatus != TaskStopped
}
