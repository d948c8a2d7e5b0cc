package telemetry

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	inst1 = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/00000000000000000000000000000001"
	inst2 = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/00000000000000000000000000000002"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newStore(o Options) (*Store, *clock) {
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	o.Now = c.now
	return New(o), c
}

func task(id, instance string) Task {
	return Task{ARN: "arn:aws:ecs:us-east-1:000000000000:task/default/" + id, ID: id, Cluster: "default",
		Family: "web", Revision: 3, Instance: instance}
}

func cpu(avg float64) ContainerMetrics {
	return ContainerMetrics{Name: "app", CPU: &Stats{Min: avg, Max: avg, Sum: 4 * avg, Samples: 4},
		MemoryMiB: &Stats{Min: 10, Max: 30, Sum: 80, Samples: 4}, Network: &Network{RxBytes: 100, TxBytes: 10}}
}

func names(cs []Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Task.ID+"/"+c.Name)
	}
	return out
}

func TestMetricsAreKeptAndRead(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(75)}}})
	got := s.Containers()
	require.Len(t, got, 1)
	assert.Equal(t, task("a", inst1), got[0].Task)
	assert.InDelta(t, 75, got[0].Metrics.CPU.Average(), 1e-9)
	assert.InDelta(t, 20, got[0].Metrics.MemoryMiB.Average(), 1e-9)
	assert.Nil(t, got[0].Health)
}

func TestNetworkTotalsAddUpWindows(t *testing.T) {
	s, _ := newStore(Options{})
	for i := range 3 {
		s.PutMetrics(inst1, Batch{ID: fmt.Sprint(i), Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	}
	got := s.Containers()
	require.Len(t, got, 1)
	assert.Equal(t, uint64(300), got[0].RxBytesTotal)
	assert.Equal(t, uint64(30), got[0].TxBytesTotal)
}

func TestFinishedBatchDropsTasksItDidNotName(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{
		{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}},
		{Task: task("b", inst1), Containers: []ContainerMetrics{cpu(2)}},
	})
	s.PutMetrics(inst2, Batch{ID: "o1", Last: true}, []TaskMetrics{{Task: task("c", inst2), Containers: []ContainerMetrics{cpu(3)}}})
	require.Equal(t, []string{"a/app", "b/app", "c/app"}, names(s.Containers()))

	// Task b stopped: the next batch of inst1 comes in two messages without it.
	s.PutMetrics(inst1, Batch{ID: "m2"}, nil)
	assert.Equal(t, []string{"a/app", "b/app", "c/app"}, names(s.Containers()), "nothing is dropped before the batch ends")
	s.PutMetrics(inst1, Batch{ID: "m2", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	assert.Equal(t, []string{"a/app", "c/app"}, names(s.Containers()), "another instance's tasks are untouched")
	tasks, containers := s.Len()
	assert.Equal(t, 2, tasks)
	assert.Equal(t, 2, containers)

	// An idle publish (no task runs) ends a batch with nothing in it.
	s.PutMetrics(inst1, Batch{ID: "m3", Last: true}, nil)
	assert.Equal(t, []string{"c/app"}, names(s.Containers()))
}

func TestBatchSpreadOverMessagesKeepsEveryTask(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutMetrics(inst1, Batch{ID: "m1"}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("b", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	assert.Equal(t, []string{"a/app", "b/app"}, names(s.Containers()))
}

func TestMetricsAndHealthBatchesAreIndependent(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutHealth(inst1, Batch{ID: "h1", Last: true}, []TaskHealth{{Task: task("a", inst1),
		Containers: []ContainerHealth{{Name: "app", Status: Unhealthy}}}})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, nil) // idle: no metrics yet
	h, ok := s.ContainerHealth(task("a", inst1).ARN, "app")
	require.True(t, ok, "a metrics batch does not clear health")
	assert.Equal(t, Unhealthy, h.Status)

	s.PutHealth(inst1, Batch{ID: "h2", Last: true}, nil)
	_, ok = s.ContainerHealth(task("a", inst1).ARN, "app")
	assert.False(t, ok)
	tasks, _ := s.Len()
	assert.Zero(t, tasks)
}

func TestTasksOfAnotherInstanceAreIgnored(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("x", inst2), Containers: []ContainerMetrics{cpu(1)}}})
	assert.Empty(t, s.Containers())
}

func TestStaleDataIsNotShown(t *testing.T) {
	s, clk := newStore(Options{StaleAfter: time.Minute})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	s.PutHealth(inst1, Batch{ID: "h1", Last: true}, []TaskHealth{{Task: task("a", inst1),
		Containers: []ContainerHealth{{Name: "app", Status: Healthy}}}})
	updated := clk.t.Add(-5 * time.Second)
	s.PutInstanceStatus(inst1, []InstanceStatus{
		{Type: "ContainerRuntime", Status: StatusOK, LastUpdated: updated, LastStatusChange: updated},
		{Type: "Agent", Status: StatusOK, LastUpdated: updated, LastStatusChange: updated},
	})

	clk.advance(time.Minute)
	assert.Len(t, s.Containers(), 1, "fresh up to StaleAfter")
	_, ok := s.ContainerHealth(task("a", inst1).ARN, "app")
	assert.True(t, ok)
	st, ok := s.InstanceStatuses(inst1)
	require.True(t, ok)
	assert.Equal(t, []string{"Agent", "ContainerRuntime"}, []string{st[0].Type, st[1].Type}, "sorted by type")
	assert.Equal(t, StatusOK, st[0].Status)

	clk.advance(time.Second)
	assert.Empty(t, s.Containers())
	_, ok = s.ContainerHealth(task("a", inst1).ARN, "app")
	assert.False(t, ok)
	st, ok = s.InstanceStatuses(inst1)
	require.True(t, ok)
	for _, x := range st {
		assert.Equal(t, StatusInsufficientData, x.Status)
		assert.Contains(t, x.Reason, "no status received")
		assert.Equal(t, updated, x.LastUpdated)
		assert.True(t, x.LastStatusChange.After(updated))
	}
	_, ok = s.InstanceStatuses(inst2)
	assert.False(t, ok)
}

func TestForgottenDataIsRemovedOnWrite(t *testing.T) {
	s, clk := newStore(Options{StaleAfter: time.Minute, ForgetAfter: 4 * time.Minute})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	s.PutInstanceStatus(inst1, []InstanceStatus{{Type: "Agent", Status: StatusOK}})

	clk.advance(5 * time.Minute)
	s.PutMetrics(inst2, Batch{ID: "o1", Last: true}, []TaskMetrics{{Task: task("b", inst2), Containers: []ContainerMetrics{cpu(1)}}})
	tasks, containers := s.Len()
	assert.Equal(t, 1, tasks, "inst1's task was forgotten")
	assert.Equal(t, 1, containers)
	_, ok := s.InstanceStatuses(inst1)
	assert.False(t, ok, "inst1's statuses were forgotten")
}

func TestContainerCapRefusesNewEntriesAndCountsThem(t *testing.T) {
	s, _ := newStore(Options{MaxContainers: 2})
	two := []ContainerMetrics{cpu(1), cpu(1)}
	two[1].Name = "sidecar"
	assert.Zero(t, s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: two}}))
	n := s.PutMetrics(inst2, Batch{ID: "o1", Last: true}, []TaskMetrics{{Task: task("b", inst2), Containers: []ContainerMetrics{cpu(1)}}})
	assert.Equal(t, 1, n)
	assert.Equal(t, uint64(1), s.Dropped())
	assert.Equal(t, []string{"a/app", "a/sidecar"}, names(s.Containers()))
	tasks, _ := s.Len()
	assert.Equal(t, 1, tasks, "a task with no container admitted leaves no entry")

	// Known containers still update when full.
	assert.Zero(t, s.PutMetrics(inst1, Batch{ID: "m2", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(50)}}}))
	// ...and the batch end freed a/sidecar, so there is room again.
	assert.Zero(t, s.PutMetrics(inst2, Batch{ID: "o2", Last: true}, []TaskMetrics{{Task: task("b", inst2), Containers: []ContainerMetrics{cpu(1)}}}))
	assert.Equal(t, []string{"a/app", "b/app"}, names(s.Containers()))
}

func TestStatusTypesAreBounded(t *testing.T) {
	s, _ := newStore(Options{})
	var many []InstanceStatus
	for i := range MaxStatusTypes + 3 {
		many = append(many, InstanceStatus{Type: fmt.Sprintf("T%02d", i), Status: StatusOK})
	}
	assert.Equal(t, 3, s.PutInstanceStatus(inst1, many))
	st, _ := s.InstanceStatuses(inst1)
	assert.Len(t, st, MaxStatusTypes)
	assert.Zero(t, s.PutInstanceStatus(inst1, many[:1]), "a known type still updates")
}

func TestForgetInstance(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutMetrics(inst1, Batch{ID: "m1", Last: true}, []TaskMetrics{{Task: task("a", inst1), Containers: []ContainerMetrics{cpu(1)}}})
	s.PutMetrics(inst2, Batch{ID: "o1", Last: true}, []TaskMetrics{{Task: task("b", inst2), Containers: []ContainerMetrics{cpu(1)}}})
	s.PutInstanceStatus(inst1, []InstanceStatus{{Type: "Agent", Status: StatusOK}})
	s.ForgetInstance(inst1)
	assert.Equal(t, []string{"b/app"}, names(s.Containers()))
	_, ok := s.InstanceStatuses(inst1)
	assert.False(t, ok)
	_, containers := s.Len()
	assert.Equal(t, 1, containers)
}

// A task recorded STOPPED leaves Containers (its /metrics series) at once,
// even when no later health batch ends it, and DescribeTasks still reads
// its last health until that turns stale; a health batch that still names
// it does not bring it back.
func TestStoppedTaskLeavesContainersAndKeepsItsLastHealth(t *testing.T) {
	s, _ := newStore(Options{})
	s.PutHealth(inst1, Batch{ID: "h1", Last: true}, []TaskHealth{
		{Task: task("a", inst1), Containers: []ContainerHealth{{Name: "app", Status: Unhealthy}}},
		{Task: task("b", inst1), Containers: []ContainerHealth{{Name: "app", Status: Healthy}}},
	})
	s.TaskStopped(task("a", inst1).ARN)
	s.TaskStopped(task("never-seen", inst1).ARN)
	assert.Equal(t, []string{"b/app"}, names(s.Containers()))
	h, ok := s.ContainerHealth(task("a", inst1).ARN, "app")
	require.True(t, ok)
	assert.Equal(t, Unhealthy, h.Status)

	s.PutHealth(inst1, Batch{ID: "h2", Last: true}, []TaskHealth{
		{Task: task("a", inst1), Containers: []ContainerHealth{{Name: "app", Status: Unhealthy}}},
	})
	assert.Empty(t, names(s.Containers()), "b ended with the batch; a stays stopped")
}
