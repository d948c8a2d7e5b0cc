// Package telemetry keeps, in bounded memory, what agents publish over TCS:
// the latest stats window of each container, the latest health of each
// health-checked container, and the latest status of each instance check.
// The ECS API (DescribeTasks, DescribeContainerInstances) and the
// Prometheus exposition read it; nothing of it is persisted, as in ECS,
// where a control plane restart simply waits for the next publish.
//
// Bounds:
//
//   - A publish batch (one messageId, fin on its last message) is the
//     agent's whole view of what runs: the tasks of the instance that the
//     batch did not name lose their metrics (or health) when the batch ends.
//     A stopped task therefore disappears within one publish interval.
//   - Data older than Options.StaleAfter is not shown (metrics and health
//     vanish, instance checks read INSUFFICIENT_DATA); older than
//     Options.ForgetAfter it is removed at the next write.
//   - At most Options.MaxContainers container entries exist; a publish that
//     would add more is counted in Dropped and logged by the caller, never
//     silently lost.
//   - Callers (controlplane/tcsserver) only hand in tasks and containers
//     that the control plane's store knows on that instance, so label values
//     and keys are never chosen by an agent.
package telemetry

import "time"

// Task names the task data is about, as the control plane's store knows it.
type Task struct {
	ARN      string
	ID       string // last part of the ARN
	Cluster  string // cluster name
	Family   string
	Revision int
	Instance string // container instance ARN
}

// Stats is a CloudWatch statistic set over one publish window.
type Stats struct {
	Min, Max, Sum float64
	Samples       int
}

// Average is Sum/Samples, or 0 without samples.
func (s Stats) Average() float64 {
	if s.Samples <= 0 {
		return 0
	}
	return s.Sum / float64(s.Samples)
}

// ContainerMetrics is one container's latest stats window. Nil members were
// not in the publish.
type ContainerMetrics struct {
	Name string
	// CPU is in percent of one CPU (a container busy on two CPUs reads 200),
	// as the agents compute it.
	CPU *Stats
	// MemoryMiB is memory in use in MiB (the agents send whole MiB).
	MemoryMiB *Stats
	Network   *Network
}

// Network is what a container's interfaces moved during the window.
type Network struct {
	RxBytes, TxBytes uint64 // increase over the window
}

// TaskMetrics is one task's part of a metrics publish.
type TaskMetrics struct {
	Task       Task
	Containers []ContainerMetrics
}

// Health statuses, as TCS and ECS spell them.
const (
	Healthy   = "HEALTHY"
	Unhealthy = "UNHEALTHY"
	Unknown   = "UNKNOWN"
)

// ContainerHealth is a container's latest health check result.
type ContainerHealth struct {
	Name    string
	Status  string // Healthy, Unhealthy or Unknown
	Since   time.Time
	Message string
}

// TaskHealth is one task's part of a health publish.
type TaskHealth struct {
	Task       Task
	Containers []ContainerHealth
}

// Instance check statuses, as TCS and ECS spell them.
const (
	StatusOK               = "OK"
	StatusImpaired         = "IMPAIRED"
	StatusInsufficientData = "INSUFFICIENT_DATA"
	StatusInitializing     = "INITIALIZING"
)

// InstanceStatus is the latest result of one instance check (TCS's
// InstanceStatus; Type is the agent's name, e.g. "ContainerRuntime").
type InstanceStatus struct {
	Type             string
	Status           string
	Reason           string
	LastUpdated      time.Time
	LastStatusChange time.Time
}

// Batch identifies the publish a message belongs to: its messageId, and
// whether it is the batch's last message (fin, or idle).
type Batch struct {
	ID   string
	Last bool
}

// Container is a read snapshot of one container for the exposition: only
// what is fresh is set.
type Container struct {
	Task    Task
	Name    string
	Metrics *ContainerMetrics
	// RxBytesTotal and TxBytesTotal add up the windows received since this
	// control plane first saw the container: Prometheus counters.
	RxBytesTotal, TxBytesTotal uint64
	Health                     *ContainerHealth
}
