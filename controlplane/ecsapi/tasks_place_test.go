package ecsapi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// A view kept up to date task by task is the view built from all of them,
// and a caller's changes to its candidates do not reach it.
func TestPlacementViewFollowsTheTasksAdded(t *testing.T) {
	instances := []store.ContainerInstance{
		{ARN: "ci/a", Status: store.StatusActive, AgentConnected: true},
		{ARN: "ci/b", Status: store.StatusActive, AgentConnected: true},
	}
	tasks := []store.LiveTask{
		{ContainerInstanceARN: "ci/a", Group: "service:web", LastStatus: store.TaskRunning,
			Reserved: store.Reservation{CPU: 256, MemoryMiB: 512, PortsTCP: []int{80}}},
		{ContainerInstanceARN: "ci/a", Group: "service:web", LastStatus: store.TaskPending,
			Reserved: store.Reservation{CPU: 128, MemoryMiB: 64, PortsUDP: []int{53}}},
		{ContainerInstanceARN: "ci/b", Group: "family:job", LastStatus: store.TaskStopped,
			Reserved: store.Reservation{CPU: 1024, MemoryMiB: 1024}},
		{ContainerInstanceARN: "ci/gone", Group: "service:web", LastStatus: store.TaskRunning},
	}
	noAttributes := func(store.ContainerInstance) map[string]string { return nil }
	whole := newPlacementView(instances, tasks, noAttributes)
	grown := newPlacementView(instances, nil, noAttributes)
	for _, tk := range tasks {
		grown.add(tk)
	}
	assert.Equal(t, whole.cands, grown.cands)
	a := whole.cands[0]
	assert.Equal(t, 384, a.Used.CPU)
	assert.Equal(t, 576, a.Used.MemoryMiB)
	assert.Equal(t, []int{80}, a.Used.PortsTCP)
	assert.Equal(t, 2, a.Groups["service:web"])
	assert.Equal(t, 1, a.RunningTasks)
	assert.Zero(t, whole.cands[1].Used.CPU, "a STOPPED task holds nothing")

	for _, port := range []int{81, 82} { // the port list now has room to grow in place
		whole.add(store.LiveTask{ContainerInstanceARN: "ci/a", Reserved: store.Reservation{PortsTCP: []int{port}}})
	}
	mine := whole.candidates()
	mine[0].Used.CPU++
	mine[0].Used.PortsTCP = append(mine[0].Used.PortsTCP, 443)
	whole.add(store.LiveTask{ContainerInstanceARN: "ci/a", Reserved: store.Reservation{PortsTCP: []int{8080}}})
	assert.Equal(t, 384, whole.cands[0].Used.CPU)
	assert.Equal(t, []int{80, 81, 82, 8080}, whole.cands[0].Used.PortsTCP)
	assert.Equal(t, []int{80, 81, 82, 443}, mine[0].Used.PortsTCP)
}
