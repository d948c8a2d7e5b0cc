package ecsapi

import (
	"strings"
	"unicode"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

// TelemetrySource is the telemetry agents published over TCS
// (*telemetry.Store), as DescribeTasks and DescribeContainerInstances show it.
type TelemetrySource interface {
	// ContainerHealth returns a container's fresh health, if any.
	ContainerHealth(taskARN, container string) (telemetry.ContainerHealth, bool)
	// InstanceStatuses returns the instance's checks, stale ones as
	// INSUFFICIENT_DATA; false when there are none.
	InstanceStatuses(containerInstanceARN string) ([]telemetry.InstanceStatus, bool)
}

// withHealth sets the healthStatus of out's containers and of the task,
// with ECS's rules: a container without a health check in its definition
// is UNKNOWN, one with a health check shows what its agent reported last
// (UNKNOWN without a fresh report); the task is UNHEALTHY if any essential
// container with a health check is UNHEALTHY, HEALTHY if all of them are
// HEALTHY, and UNKNOWN otherwise (also when it has none).
func (a *API) withHealth(out *taskOut, def *store.TaskDefinition) {
	checked, healthy, unhealthy := 0, 0, 0
	for i := range out.Containers {
		c := &out.Containers[i].TaskContainer
		c.HealthStatus = telemetry.Unknown
		if def == nil {
			continue
		}
		cd, ok := def.Container(c.Name)
		if !ok || cd.HealthCheck == nil {
			continue
		}
		if a.o.Telemetry != nil {
			if h, ok := a.o.Telemetry.ContainerHealth(out.ARN, c.Name); ok {
				c.HealthStatus = h.Status
			}
		}
		if !c.Essential {
			continue
		}
		checked++
		switch c.HealthStatus {
		case telemetry.Healthy:
			healthy++
		case telemetry.Unhealthy:
			unhealthy++
		}
	}
	switch {
	case unhealthy > 0:
		out.HealthStatus = telemetry.Unhealthy
	case checked > 0 && healthy == checked:
		out.HealthStatus = telemetry.Healthy
	default:
		out.HealthStatus = telemetry.Unknown
	}
}

// definitions reads task definitions once per request.
type definitions struct {
	tx   store.Tx
	seen map[string]*store.TaskDefinition
}

// of returns the task's definition, or nil when it cannot be read (a task
// then shows no health check).
func (d *definitions) of(t store.Task) *store.TaskDefinition {
	key := t.TaskDefinitionARN
	if def, ok := d.seen[key]; ok {
		return def
	}
	var def *store.TaskDefinition
	if td, err := d.tx.TaskDefinition(t.Family, t.Revision); err == nil {
		def = &td
	}
	if d.seen == nil {
		d.seen = map[string]*store.TaskDefinition{}
	}
	d.seen[key] = def
	return def
}

// instanceHealthOut is the ECS ContainerInstanceHealthStatus shape.
type instanceHealthOut struct {
	OverallStatus string                `json:"overallStatus"`
	Details       []instanceHealthCheck `json:"details"`
}

// instanceHealthCheck is the ECS InstanceHealthCheckResult shape.
type instanceHealthCheck struct {
	Type             string        `json:"type"`
	Status           string        `json:"status"`
	LastUpdated      *epochSeconds `json:"lastUpdated,omitempty"`
	LastStatusChange *epochSeconds `json:"lastStatusChange,omitempty"`
}

// instanceHealth is the instance's healthStatus: each check the agent
// reported (TCS's "ContainerRuntime" is ECS's CONTAINER_RUNTIME), and an
// overall status that is the worst of them: IMPAIRED, then
// INSUFFICIENT_DATA, then INITIALIZING, then OK. An instance without any
// report (no TCS session yet, or one that went quiet long ago) is
// INSUFFICIENT_DATA.
func (a *API) instanceHealth(arn string) *instanceHealthOut {
	out := &instanceHealthOut{OverallStatus: telemetry.StatusInsufficientData, Details: []instanceHealthCheck{}}
	if a.o.Telemetry == nil {
		return out
	}
	statuses, ok := a.o.Telemetry.InstanceStatuses(arn)
	if !ok {
		return out
	}
	rank := map[string]int{telemetry.StatusOK: 0, telemetry.StatusInitializing: 1, telemetry.StatusInsufficientData: 2, telemetry.StatusImpaired: 3}
	worst := telemetry.StatusOK
	for _, s := range statuses {
		check := instanceHealthCheck{Type: upperSnake(s.Type), Status: s.Status}
		if !s.LastUpdated.IsZero() {
			check.LastUpdated = epoch(&s.LastUpdated)
		}
		if !s.LastStatusChange.IsZero() {
			check.LastStatusChange = epoch(&s.LastStatusChange)
		}
		out.Details = append(out.Details, check)
		if rank[s.Status] > rank[worst] {
			worst = s.Status
		}
	}
	out.OverallStatus = worst
	return out
}

// upperSnake turns a TCS check type into ECS's enum spelling:
// ContainerRuntime → CONTAINER_RUNTIME, EBSDaemon → EBS_DAEMON; a value
// already in capitals (ACCELERATED_COMPUTE) stays as it is.
func upperSnake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && r[i-1] != '_' &&
			(unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}
