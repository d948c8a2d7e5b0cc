// Package services is the service scheduler's decision: given one service
// as stored (its deployments and bookkeeping), its tasks and the cluster's
// instances, Reconcile says which tasks to start for which deployment and
// which to stop, and returns the service as it should be stored next
// (counts, rollout states, events). It is pure: the caller (ecsapi's
// service driver) reads everything in one transaction, places the starts
// with the same scheduler as RunTask, writes the stops and the service,
// and commits. Since Reconcile reads only persisted state, a restarted
// control plane carries on where the last one stopped.
//
// How it decides, per round (see docs/services.md):
//
//   - stops of the tasks it started are noticed once each (Service.Tasks):
//     one it did not ask for counts as a failure, for the circuit breaker
//     and for the start backoff;
//   - the PRIMARY deployment wants D tasks (desiredCount, or for DAEMON one
//     per ACTIVE instance that meets the constraints) that are not on a
//     DRAINING instance; it starts as many as maximumPercent leaves room
//     for, counting every task not yet STOPPED;
//   - every other task (older deployments, tasks on DRAINING instances)
//     is stopped as long as the healthy tasks left are at least
//     minimumHealthyPercent of D; one that is not serving (PENDING or
//     UNHEALTHY) may always be stopped;
//   - a deployment with no task left goes away; the PRIMARY is COMPLETED
//     when it alone remains with D healthy tasks.
package services

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Health is what the scheduler knows of a task's health.
type Health int

const (
	// HealthUnknown: not RUNNING yet, or its health checks have not said.
	HealthUnknown Health = iota
	// HealthHealthy: RUNNING and, if an essential container has a health
	// check, HEALTHY.
	HealthHealthy
	// HealthUnhealthy: RUNNING and a health check says UNHEALTHY.
	HealthUnhealthy
)

// Start failures from which starts back off, and how long at most.
const (
	backoffAfter = 3
	backoffBase  = 10 * time.Second
	backoffMax   = 15 * time.Minute
)

// Stop reasons, as ECS words them where it has words.
const (
	ReasonScaling    = "Scaling activity initiated by (deployment %s)"
	ReasonDraining   = "Container instance is DRAINING: the service scheduler replaced the task"
	ReasonUnhealthy  = "Task failed container health checks"
	ReasonIneligible = "Container instance no longer meets the service's placement constraints"
)

// Input is what one reconcile of one service reads.
type Input struct {
	Service store.Service
	// Tasks are the service's tasks that are not STOPPED, and the ones in
	// Service.Tasks that are (a tracked task missing from Tasks was
	// pruned: it stopped).
	Tasks []store.Task
	// Health of each task, by task ID; missing is HealthUnknown.
	Health map[string]Health
	// Instances are the cluster's instances (Active false: DRAINING or
	// INACTIVE), for DAEMON services and for draining.
	Instances []scheduler.Instance
	Now       time.Time
	// NewDeploymentID names a rollback deployment.
	NewDeploymentID func() string
}

// Start asks for Count tasks of a deployment; Instance, for a DAEMON
// service, is the one instance they must go to.
type Start struct {
	DeploymentID string
	Count        int
	Instance     string
}

// Stop asks to stop a task.
type Stop struct {
	TaskID string
	Reason string
}

// Plan is what Reconcile decided.
type Plan struct {
	Service store.Service
	Starts  []Start
	Stops   []Stop
}

// FailureThreshold is the circuit breaker's: the failed tasks after which
// a deployment FAILS, half its desired count rounded up, at least 3 and at
// most 200 (as ECS documents it).
func FailureThreshold(desired int) int {
	return min(max(int(math.Ceil(0.5*float64(desired))), 3), 200)
}

// Reconcile decides one round for one service.
func Reconcile(in Input) Plan {
	svc := cloneService(in.Service)
	plan := Plan{}
	// The round's working sets point into in.Tasks: a service's tasks are
	// sorted and sifted every round for every service of a cluster, and
	// copying each task record into them was most of what a round
	// allocated.
	byID := make(map[string]*store.Task, len(in.Tasks))
	for i := range in.Tasks {
		byID[in.Tasks[i].ID] = &in.Tasks[i]
	}
	noticeStops(&svc, byID, in.Now)
	primary := svc.Primary()
	if primary == nil {
		plan.Service = svc
		return plan
	}
	tripBreaker(&svc, in)
	primary = svc.Primary()

	// Only a DAEMON service's tasks are bound to instances. A round
	// reconciles every service of a cluster against all its instances, so
	// what is worked out per instance is worked out only when needed.
	var eligible map[string]bool
	desired := svc.DesiredCount
	if svc.SchedulingStrategy == store.SchedulingDaemon {
		eligible = EligibleInstances(svc, in.Instances)
		desired = len(eligible)
	}
	if svc.Status != store.ServiceActive {
		desired = 0
	}
	primary.DesiredCount = desired
	if svc.SchedulingStrategy == store.SchedulingDaemon {
		// A DAEMON service's desired count is what ECS shows for it: its
		// eligible instances.
		svc.DesiredCount = desired
	}

	// Sort the live tasks: the PRIMARY's that stay, and the rest. Whether
	// an instance is ACTIVE is looked up for the instances of the
	// service's tasks alone.
	active := make(map[string]bool, len(in.Tasks))
	for _, t := range in.Tasks {
		active[t.ContainerInstanceARN] = false
	}
	for _, inst := range in.Instances {
		if _, mine := active[inst.ARN]; mine && inst.Active {
			active[inst.ARN] = true
		}
	}
	keep := make([]*store.Task, 0, len(in.Tasks))
	var old []stopCandidate
	total, healthy := 0, 0
	daemonHas := map[string]bool{}
	for i := range in.Tasks {
		t := &in.Tasks[i]
		if t.LastStatus == store.TaskStopped {
			continue
		}
		total++
		if t.DesiredStatus == store.TaskStopped {
			continue
		}
		if in.Health[t.ID] == HealthHealthy {
			healthy++
		}
		switch {
		case t.StartedBy != primary.ID:
			old = append(old, stopCandidate{t, t.StoppedReason})
		case !active[t.ContainerInstanceARN]:
			old = append(old, stopCandidate{t, ReasonDraining})
		case svc.SchedulingStrategy == store.SchedulingDaemon && !eligible[t.ContainerInstanceARN]:
			old = append(old, stopCandidate{t, ReasonIneligible})
		case svc.SchedulingStrategy == store.SchedulingDaemon && daemonHas[t.ContainerInstanceARN]:
			old = append(old, stopCandidate{t, t.StoppedReason})
		case in.Health[t.ID] == HealthUnhealthy:
			// Replaced at once: it serves nothing. While rolling out, it
			// is a failure of the deployment, as ECS's circuit breaker
			// counts failed health checks.
			plan.Stops = append(plan.Stops, Stop{TaskID: t.ID, Reason: ReasonUnhealthy})
			if primary.RolloutState == store.RolloutInProgress {
				primary.FailedTasks++
				primary.UpdatedAt = in.Now
			}
		default:
			keep = append(keep, t)
			daemonHas[t.ContainerInstanceARN] = true
		}
	}

	// Scale in: the PRIMARY's extra tasks, those not serving first.
	if len(keep) > desired {
		slices.SortStableFunc(keep, func(a, b *store.Task) int {
			return servingRank(b, in.Health) - servingRank(a, in.Health)
		})
		for _, t := range keep[desired:] {
			plan.Stops = append(plan.Stops, Stop{TaskID: t.ID, Reason: fmt.Sprintf(ReasonScaling, primary.ID)})
		}
		keep = keep[:desired]
	}

	// Starts, within maximumPercent, unless backing off or FAILED.
	canStart := svc.Status == store.ServiceActive && !in.Now.Before(svc.BackoffUntil) && primary.RolloutState != store.RolloutFailed
	if canStart && svc.SchedulingStrategy == store.SchedulingDaemon {
		busy := map[string]bool{}
		for _, t := range in.Tasks {
			if t.LastStatus != store.TaskStopped {
				busy[t.ContainerInstanceARN] = true
			}
		}
		for _, inst := range in.Instances {
			// An instance with an older task gets the new one once that
			// one stopped: their ports and resources would collide.
			if eligible[inst.ARN] && !busy[inst.ARN] {
				plan.Starts = append(plan.Starts, Start{DeploymentID: primary.ID, Count: 1, Instance: inst.ARN})
			}
		}
	} else if canStart {
		maxTotal := desired * svc.DeploymentConfiguration.MaximumPercent / 100
		if n := min(desired-len(keep), maxTotal-total); n > 0 {
			plan.Starts = append(plan.Starts, Start{DeploymentID: primary.ID, Count: n})
		}
	}

	// Stops of the rest within minimumHealthyPercent: those not serving
	// first, for free; the serving ones while enough stay healthy.
	minHealthy := int(math.Ceil(float64(desired) * float64(svc.DeploymentConfiguration.MinimumHealthyPercent) / 100))
	budget := healthy - minHealthy
	slices.SortStableFunc(old, func(a, b stopCandidate) int { return servingRank(a.t, in.Health) - servingRank(b.t, in.Health) })
	for _, c := range old {
		t, reason := c.t, c.reason
		if reason == "" {
			reason = fmt.Sprintf(ReasonScaling, primary.ID)
		}
		switch {
		case t.LastStatus != store.TaskRunning || in.Health[t.ID] == HealthUnhealthy:
		case budget > 0:
			if in.Health[t.ID] == HealthHealthy {
				budget--
			}
		default:
			continue
		}
		plan.Stops = append(plan.Stops, Stop{TaskID: t.ID, Reason: reason})
	}

	finishDeployments(&svc, in, keep, desired, len(plan.Starts) == 0 && len(plan.Stops) == 0)
	plan.Service = svc
	return plan
}

// servingRank orders tasks for stopping: not serving first.
func servingRank(t *store.Task, health map[string]Health) int {
	if t.LastStatus != store.TaskRunning || health[t.ID] == HealthUnhealthy {
		return 0
	}
	if health[t.ID] == HealthHealthy {
		return 2
	}
	return 1
}

// stopCandidate is a task the round may stop, and the reason it would
// give (the task's own StoppedReason is set only when the stop is
// written).
type stopCandidate struct {
	t      *store.Task
	reason string
}

// finishDeployments updates the counts, drops deployments with no task
// left, completes the PRIMARY's rollout and writes the steady-state and
// completion events; quiet says this round changes no task.
func finishDeployments(svc *store.Service, in Input, keep []*store.Task, desired int, quiet bool) {
	counts := map[string][2]int{} // running, pending by deployment
	live := map[string]int{}
	for _, t := range in.Tasks {
		if t.LastStatus == store.TaskStopped {
			continue
		}
		live[t.StartedBy]++
		c := counts[t.StartedBy]
		switch t.LastStatus {
		case store.TaskRunning:
			c[0]++
		case store.TaskPending:
			c[1]++
		}
		counts[t.StartedBy] = c
	}
	var kept []store.Deployment
	for _, d := range svc.Deployments {
		if d.Status != store.DeploymentPrimary && live[d.ID] == 0 {
			continue // rolled away
		}
		c := counts[d.ID]
		if d.RunningCount != c[0] || d.PendingCount != c[1] {
			d.RunningCount, d.PendingCount, d.UpdatedAt = c[0], c[1], in.Now
		}
		if d.Status != store.DeploymentPrimary && d.DesiredCount != live[d.ID] {
			d.DesiredCount = live[d.ID]
		}
		kept = append(kept, d)
	}
	svc.Deployments = kept
	p := svc.Primary()
	allHealthy := len(keep) == desired
	for _, t := range keep {
		if in.Health[t.ID] != HealthHealthy {
			allHealthy = false
		}
	}
	done := len(svc.Deployments) == 1 && allHealthy && quiet
	if done && p.RolloutState == store.RolloutInProgress {
		p.RolloutState = store.RolloutCompleted
		p.RolloutStateReason = fmt.Sprintf("ECS deployment %s completed.", p.ID)
		p.UpdatedAt = in.Now
		completed := *p
		svc.LastCompleted = &completed
		svc.StartFailures, svc.BackoffUntil = 0, time.Time{}
		addEvent(svc, in.Now, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", svc.Name, p.ID))
	}
	steady := done && svc.Status == store.ServiceActive && p.RolloutState == store.RolloutCompleted
	if steady && !svc.Steady {
		svc.StartFailures, svc.BackoffUntil = 0, time.Time{}
		addEvent(svc, in.Now, fmt.Sprintf("(service %s) has reached a steady state.", svc.Name))
	}
	svc.Steady = steady
	if svc.Status == store.ServiceDraining && len(live) == 0 {
		svc.Status = store.ServiceInactive
		for i := range svc.Deployments {
			svc.Deployments[i].Status = store.DeploymentInactive
		}
	}
}

func deployment(svc *store.Service, id string) *store.Deployment {
	for i := range svc.Deployments {
		if svc.Deployments[i].ID == id {
			return &svc.Deployments[i]
		}
	}
	return nil
}

func cloneService(s store.Service) store.Service {
	s.Deployments = slices.Clone(s.Deployments)
	s.Events = slices.Clone(s.Events)
	s.Tasks = slices.Clone(s.Tasks)
	return s
}
