package tcs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

func TestHealthStatusSince(t *testing.T) {
	h := newHealthTracker()
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := func(health string) []engine.TaskSnapshot {
		return []engine.TaskSnapshot{{ARN: "t1", Family: "web", Version: "1", Containers: []engine.ContainerSnapshot{
			{Name: "app", KnownStatus: engine.StatusRunning, Health: health},
			{Name: "done", KnownStatus: engine.StatusStopped, Health: "UNHEALTHY"},
		}}}
	}
	got := h.tasks(snap("UNKNOWN"), "default", t0)
	require.Len(t, got, 1)
	assert.Equal(t, []wire.ContainerHealth{{ContainerName: "app", HealthStatus: wire.HealthStatusUnknown, StatusSince: wire.At(t0)}},
		got[0].Containers, "stopped containers are left out")
	assert.Equal(t, "default", got[0].ClusterARN)

	got = h.tasks(snap("HEALTHY"), "default", t0.Add(20*time.Second))
	assert.Equal(t, wire.At(t0.Add(20*time.Second)), got[0].Containers[0].StatusSince, "a new status starts its own since")
	got = h.tasks(snap("HEALTHY"), "default", t0.Add(40*time.Second))
	assert.Equal(t, wire.At(t0.Add(20*time.Second)), got[0].Containers[0].StatusSince)

	assert.Empty(t, h.tasks(snap(""), "default", t0.Add(time.Minute)), "no health check, no health")
	assert.Empty(t, h.since, "containers no longer reported are forgotten")
}
