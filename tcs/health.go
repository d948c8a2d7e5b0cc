package tcs

import (
	"time"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// TaskSource supplies the task engine's snapshots, for container health.
type TaskSource interface {
	Snapshot() []engine.TaskSnapshot
}

// healthTracker remembers since when each container has had its health
// status (statusSince). It is owned by the session goroutine and outlives
// connections.
type healthTracker struct {
	since map[healthKey]healthSeen
}

type healthKey struct{ task, container string }

type healthSeen struct {
	status wire.HealthStatus
	since  time.Time
}

func newHealthTracker() *healthTracker {
	return &healthTracker{since: make(map[healthKey]healthSeen)}
}

// tasks returns the health of every container that has a health check, by
// task, in snapshot order. Stopped containers and tasks without a health
// check are left out. Containers no longer seen are forgotten.
func (h *healthTracker) tasks(snap []engine.TaskSnapshot, cluster string, now time.Time) []wire.TaskHealth {
	seen := make(map[healthKey]bool)
	var out []wire.TaskHealth
	for _, t := range snap {
		var cs []wire.ContainerHealth
		for _, c := range t.Containers {
			status, ok := healthStatus(c.Health)
			if !ok || c.KnownStatus == engine.StatusStopped {
				continue
			}
			k := healthKey{t.ARN, c.Name}
			seen[k] = true
			prev, known := h.since[k]
			if !known || prev.status != status {
				prev = healthSeen{status: status, since: now}
				h.since[k] = prev
			}
			cs = append(cs, wire.ContainerHealth{ContainerName: c.Name, HealthStatus: status, StatusSince: wire.At(prev.since)})
		}
		if len(cs) > 0 {
			out = append(out, wire.TaskHealth{
				TaskARN: t.ARN, ClusterARN: cluster,
				TaskDefinitionFamily: t.Family, TaskDefinitionVersion: t.Version,
				Containers: cs,
			})
		}
	}
	for k := range h.since {
		if !seen[k] {
			delete(h.since, k)
		}
	}
	return out
}

// healthStatus maps the snapshot's health ("" means no health check).
func healthStatus(s string) (wire.HealthStatus, bool) {
	switch s {
	case "HEALTHY":
		return wire.HealthStatusHealthy, true
	case "UNHEALTHY":
		return wire.HealthStatusUnhealthy, true
	case "UNKNOWN":
		return wire.HealthStatusUnknown, true
	}
	return "", false
}
