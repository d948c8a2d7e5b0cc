package services

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	depOld = "ecs-svc/1111111111111111111"
	depNew = "ecs-svc/2222222222222222222"
)

// world builds a reconcile input from a compact description.
type world struct {
	svc       store.Service
	tasks     []store.Task
	health    map[string]Health
	instances []scheduler.Instance
}

func newWorld(desired int, deps ...string) *world {
	w := &world{health: map[string]Health{}}
	w.svc = store.Service{Name: "web", Status: store.ServiceActive, DesiredCount: desired, SchedulingStrategy: store.SchedulingReplica,
		DeploymentConfiguration: store.DeploymentConfiguration{MaximumPercent: 200, MinimumHealthyPercent: 100}}
	for i, id := range deps {
		st, rollout := store.DeploymentActive, store.RolloutCompleted
		if i == 0 {
			st, rollout = store.DeploymentPrimary, store.RolloutInProgress
		}
		w.svc.Deployments = append(w.svc.Deployments, store.Deployment{ID: id, Status: st, RolloutState: rollout, DesiredCount: desired, TaskDefinitionARN: "td:" + id})
	}
	w.instances = []scheduler.Instance{{ARN: "i-a", Active: true}, {ARN: "i-b", Active: true}}
	return w
}

// task adds a task of a deployment on an instance; status is PENDING,
// RUNNING (healthy), SICK (RUNNING, unhealthy), WAIT (RUNNING, health
// unknown), STOPPING or STOPPED.
func (w *world) task(dep, instance, status string) string {
	id := fmt.Sprintf("t%d", len(w.tasks)+1)
	t := store.Task{ID: id, StartedBy: dep, ContainerInstanceARN: instance, DesiredStatus: store.TaskRunning, LastStatus: store.TaskRunning, Group: "service:web"}
	switch status {
	case "PENDING":
		t.LastStatus = store.TaskPending
	case "RUNNING":
		w.health[id] = HealthHealthy
	case "SICK":
		w.health[id] = HealthUnhealthy
	case "STOPPING":
		t.DesiredStatus = store.TaskStopped
	case "STOPPED":
		t.LastStatus, t.DesiredStatus, t.StopCode = store.TaskStopped, store.TaskStopped, store.StopCodeEssentialContainerExited
	}
	w.tasks = append(w.tasks, t)
	w.svc.Tasks = append(w.svc.Tasks, store.ServiceTask{ID: id, DeploymentID: dep})
	return id
}

func (w *world) run() Plan {
	n := 0
	return Reconcile(Input{Service: w.svc, Tasks: w.tasks, Health: w.health, Instances: w.instances, Now: now,
		NewDeploymentID: func() string { n++; return fmt.Sprintf("ecs-svc/999999999999999999%d", n) }})
}

func stopIDs(p Plan) []string {
	out := []string{}
	for _, s := range p.Stops {
		out = append(out, s.TaskID)
	}
	return out
}

func started(p Plan) int {
	n := 0
	for _, s := range p.Starts {
		n += s.Count
	}
	return n
}

func events(s store.Service) string {
	var out []string
	for _, e := range s.Events {
		out = append(out, e.Message)
	}
	return strings.Join(out, "\n")
}

func TestReplicaDecisions(t *testing.T) {
	cases := []struct {
		name      string
		build     func() *world
		wantStart int
		wantStops []string
	}{
		{"a new service starts its desired count", func() *world { return newWorld(3, depNew) }, 3, []string{}},
		{"a steady service does nothing", func() *world {
			w := newWorld(2, depNew)
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "RUNNING")
			return w
		}, 0, []string{}},
		{"a stopped task is replaced", func() *world {
			w := newWorld(2, depNew)
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "STOPPED")
			return w
		}, 1, []string{}},
		{"scale in stops the tasks not serving first", func() *world {
			w := newWorld(1, depNew)
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "PENDING")
			return w
		}, 0, []string{"t2"}},
		{"an unhealthy task is replaced", func() *world {
			w := newWorld(1, depNew)
			w.task(depNew, "i-a", "SICK")
			return w
		}, 1, []string{"t1"}},
		{"a rollout at 200% starts the new tasks and keeps the old", func() *world {
			w := newWorld(2, depNew, depOld)
			w.task(depOld, "i-a", "RUNNING")
			w.task(depOld, "i-b", "RUNNING")
			return w
		}, 2, []string{}},
		{"old tasks go once new ones are healthy", func() *world {
			w := newWorld(2, depNew, depOld)
			w.task(depOld, "i-a", "RUNNING")
			w.task(depOld, "i-b", "RUNNING")
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "WAIT")
			return w
		}, 0, []string{"t1"}},
		{"at max 100% min 50% half the old go first", func() *world {
			w := newWorld(4, depNew, depOld)
			w.svc.DeploymentConfiguration = store.DeploymentConfiguration{MaximumPercent: 100, MinimumHealthyPercent: 50}
			for range 4 {
				w.task(depOld, "i-a", "RUNNING")
			}
			return w
		}, 0, []string{"t1", "t2"}},
		{"stopping tasks count against maximumPercent", func() *world {
			w := newWorld(2, depNew, depOld)
			w.svc.DeploymentConfiguration = store.DeploymentConfiguration{MaximumPercent: 100, MinimumHealthyPercent: 50}
			w.task(depOld, "i-a", "STOPPING")
			w.task(depOld, "i-b", "RUNNING")
			return w
		}, 0, []string{}},
		{"a task on a draining instance is replaced first, then stopped", func() *world {
			w := newWorld(2, depNew)
			w.instances[1].Active = false
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "RUNNING")
			return w
		}, 1, []string{}},
		{"the drained task goes once its replacement is healthy", func() *world {
			w := newWorld(2, depNew)
			w.instances[1].Active = false
			w.task(depNew, "i-a", "RUNNING")
			w.task(depNew, "i-b", "RUNNING")
			w.task(depNew, "i-a", "RUNNING")
			return w
		}, 0, []string{"t2"}},
		{"old tasks of unknown health wait (after a restart, before telemetry)", func() *world {
			w := newWorld(2, depNew, depOld)
			w.task(depOld, "i-a", "WAIT")
			w.task(depOld, "i-b", "WAIT")
			w.task(depNew, "i-a", "WAIT")
			w.task(depNew, "i-b", "WAIT")
			return w
		}, 0, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.build().run()
			assert.Equal(t, c.wantStart, started(p), "tasks started")
			assert.Equal(t, c.wantStops, stopIDs(p), "tasks stopped")
			if c.wantStart > 0 {
				assert.Equal(t, p.Service.Primary().ID, p.Starts[0].DeploymentID)
			}
		})
	}
}

func TestRolloutCompletesAndOldDeploymentGoes(t *testing.T) {
	w := newWorld(2, depNew, depOld)
	w.task(depNew, "i-a", "RUNNING")
	w.task(depNew, "i-b", "RUNNING")
	w.task(depOld, "i-a", "STOPPED")
	p := w.run()
	require.Len(t, p.Service.Deployments, 1)
	d := p.Service.Deployments[0]
	assert.Equal(t, store.RolloutCompleted, d.RolloutState)
	assert.Equal(t, 2, d.RunningCount)
	require.NotNil(t, p.Service.LastCompleted)
	assert.Equal(t, depNew, p.Service.LastCompleted.ID)
	assert.True(t, p.Service.Steady)
	assert.Contains(t, events(p.Service), "(service web) has reached a steady state.")
	assert.Contains(t, events(p.Service), "deployment completed")

	// Steady again: no second event.
	w.svc = p.Service
	again := w.run()
	assert.Equal(t, p.Service.Events, again.Service.Events)
}

func TestCircuitBreakerRollsBack(t *testing.T) {
	w := newWorld(3, depNew, depOld)
	w.svc.DeploymentConfiguration.DeploymentCircuitBreaker = store.DeploymentCircuitBreaker{Enable: true, Rollback: true}
	w.svc.LastCompleted = &store.Deployment{ID: depOld, TaskDefinitionARN: "td:old", Family: "web", Revision: 1}
	for _, inst := range []string{"i-a", "i-b", "i-a"} {
		w.task(depOld, inst, "RUNNING")
	}
	for range 3 {
		w.task(depNew, "i-b", "STOPPED")
	}
	p := w.run()
	// The failed deployment has no task left: it is gone at once.
	require.Len(t, p.Service.Deployments, 2, "the rollback and the old one")
	primary := p.Service.Primary()
	assert.Equal(t, "td:old", primary.TaskDefinitionARN)
	assert.Equal(t, store.RolloutInProgress, primary.RolloutState)
	assert.Contains(t, primary.RolloutStateReason, "rolling back to deploymentId "+depOld)
	assert.Equal(t, "td:old", p.Service.TaskDefinitionARN)
	assert.Contains(t, events(p.Service), "(deployment "+depNew+") deployment failed: tasks failed to start.")
	assert.Equal(t, 3, started(p), "the rollback starts its tasks next to the old ones (200%)")
	assert.Len(t, p.Service.Tasks, 3, "each stop is noticed once; the live old tasks stay tracked")
}

// A task of a rolling deployment that fails its health checks is replaced
// and counts as a failure of the deployment.
func TestUnhealthyTaskCountsAsFailureWhileRolling(t *testing.T) {
	w := newWorld(1, depNew)
	w.task(depNew, "i-a", "SICK")
	p := w.run()
	assert.Equal(t, 1, p.Service.Primary().FailedTasks)
	assert.Equal(t, []Stop{{TaskID: "t1", Reason: ReasonUnhealthy}}, p.Stops)
}

func TestFailureThreshold(t *testing.T) {
	for desired, want := range map[int]int{0: 3, 1: 3, 6: 3, 7: 4, 10: 5, 400: 200, 1000: 200} {
		assert.Equal(t, want, FailureThreshold(desired), "desired %d", desired)
	}
}

func TestBreakerWithoutRollbackStopsStarting(t *testing.T) {
	w := newWorld(3, depNew)
	w.svc.DeploymentConfiguration.DeploymentCircuitBreaker = store.DeploymentCircuitBreaker{Enable: true}
	for range 3 {
		w.task(depNew, "i-a", "STOPPED")
	}
	p := w.run()
	assert.Equal(t, store.RolloutFailed, p.Service.Primary().RolloutState)
	assert.Equal(t, 3, p.Service.Primary().FailedTasks)
	assert.Contains(t, p.Service.Primary().RolloutStateReason, "circuit breaker")
	assert.Zero(t, started(p))
}

func TestRepeatedFailuresBackOff(t *testing.T) {
	w := newWorld(1, depNew)
	w.svc.StartFailures = 2
	w.task(depNew, "i-a", "STOPPED")
	p := w.run()
	assert.Zero(t, started(p), "backing off")
	assert.True(t, p.Service.BackoffUntil.After(now))
	assert.Contains(t, events(p.Service), "is unable to consistently start tasks successfully")

	w.svc = p.Service
	w.tasks = nil
	later := Reconcile(Input{Service: w.svc, Instances: w.instances, Now: p.Service.BackoffUntil})
	assert.Equal(t, 1, started(later), "starts again once the backoff ran out")
}

func TestStopsTheSchedulerAskedForAreNoFailures(t *testing.T) {
	w := newWorld(1, depNew)
	w.svc.DeploymentConfiguration.DeploymentCircuitBreaker = store.DeploymentCircuitBreaker{Enable: true}
	id := w.task(depNew, "i-a", "STOPPED")
	w.tasks[0].StopCode = store.StopCodeServiceScheduler
	p := w.run()
	assert.Zero(t, p.Service.Primary().FailedTasks, id)
	assert.Zero(t, p.Service.StartFailures)
}

func TestDaemonOneTaskPerEligibleInstance(t *testing.T) {
	w := newWorld(0, depNew)
	w.svc.SchedulingStrategy = store.SchedulingDaemon
	w.svc.DeploymentConfiguration = store.DeploymentConfiguration{MaximumPercent: 100}
	w.svc.PlacementConstraints = []store.PlacementConstraint{{Type: "memberOf", Expression: "attribute:role == edge"}}
	w.instances = []scheduler.Instance{
		{ARN: "i-a", Active: true, Attributes: map[string]string{"role": "edge"}},
		{ARN: "i-b", Active: true, Attributes: map[string]string{"role": "edge"}},
		{ARN: "i-c", Active: true, Attributes: map[string]string{"role": "db"}},
		{ARN: "i-d", Active: false, Attributes: map[string]string{"role": "edge"}},
	}
	w.task(depNew, "i-a", "RUNNING")
	w.task(depNew, "i-c", "RUNNING") // the instance left the constraint
	w.task(depNew, "i-d", "RUNNING") // draining
	p := w.run()
	assert.Equal(t, []Start{{DeploymentID: depNew, Count: 1, Instance: "i-b"}}, p.Starts)
	assert.ElementsMatch(t, []string{"t2", "t3"}, stopIDs(p))
	assert.Equal(t, 2, p.Service.Primary().DesiredCount)
	assert.Equal(t, 2, p.Service.DesiredCount, "a DAEMON service wants its eligible instances")
}

func TestDaemonRolloutReplacesInPlace(t *testing.T) {
	w := newWorld(0, depNew, depOld)
	w.svc.SchedulingStrategy = store.SchedulingDaemon
	w.svc.DeploymentConfiguration = store.DeploymentConfiguration{MaximumPercent: 100}
	w.task(depOld, "i-a", "RUNNING")
	w.task(depOld, "i-b", "STOPPING")
	p := w.run()
	assert.Equal(t, []string{"t1"}, stopIDs(p), "the old task goes first")
	assert.Empty(t, p.Starts, "nothing starts where an older task still runs")
}

func TestDeletedServiceDrainsThenGoesInactive(t *testing.T) {
	w := newWorld(0, depNew)
	w.svc.Status = store.ServiceDraining
	w.task(depNew, "i-a", "RUNNING")
	p := w.run()
	assert.Equal(t, []string{"t1"}, stopIDs(p))
	assert.Equal(t, store.ServiceDraining, p.Service.Status)

	w.tasks[0].LastStatus = store.TaskStopped
	w.tasks[0].StopCode = store.StopCodeServiceScheduler
	w.svc = p.Service
	p = w.run()
	assert.Equal(t, store.ServiceInactive, p.Service.Status)
}

func TestEventsAreCapped(t *testing.T) {
	var s store.Service
	for i := range MaxEvents + 5 {
		addEvent(&s, now, fmt.Sprint(i))
	}
	assert.Len(t, s.Events, MaxEvents)
	assert.Equal(t, fmt.Sprint(MaxEvents+4), s.Events[0].Message, "newest first")
}

// Reconcile decides on the tasks it is given without changing them: a
// stop's reason goes into the plan, not onto the task.
func TestReconcileLeavesItsTasksAlone(t *testing.T) {
	w := newWorld(2, depNew, depOld)
	w.task(depNew, "i-gone", "RUNNING") // its instance left: stopped for draining
	w.task(depOld, "i-a", "RUNNING")
	w.task(depNew, "i-a", "RUNNING")
	w.task(depNew, "i-b", "SICK")
	before := slices.Clone(w.tasks)
	p := w.run()
	assert.Equal(t, before, w.tasks)
	assert.Contains(t, p.Stops, Stop{TaskID: "t1", Reason: ReasonDraining})
}
