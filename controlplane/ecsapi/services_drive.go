package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/services"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// placementEventInterval rate-limits "was unable to place a task" events of
// one service, as ECS does, so that a service that cannot place keeps one
// current event rather than a flood.
const placementEventInterval = time.Minute

// runningSettleTime is how long a task without health checks must have
// been RUNNING to count as healthy (see serviceTaskHealth).
const runningSettleTime = 3 * time.Second

// defaultServiceStrategies is ECS's placement strategy for a REPLICA
// service created without one: spread over availability zones, then over
// instances.
var defaultServiceStrategies = []scheduler.Strategy{
	{Type: scheduler.StrategySpread, Field: "attribute:ecs.availability-zone"},
	{Type: scheduler.StrategySpread, Field: "instanceId"},
}

// ReconcileServices is one round of the service scheduler. It first reads
// each cluster once, in a read transaction, and asks services.Reconcile
// what each of its services would do; only the services with something
// to do (tasks to start or stop, or a change to record) are then
// reconciled in write transactions, which read and decide again. A steady
// service thus costs no write, and the write lock that RunTask and the
// agents' reports wait for is held only for real work. A cluster's DAEMON
// services go before its REPLICA ones, so that an instance that just
// joined gets its DAEMON tasks first. The first error is returned after
// every service had its turn.
func (a *API) ReconcileServices(ctx context.Context) error {
	var all []store.Service
	err := a.o.Store.View(func(tx store.Tx) error {
		var err error
		all, err = tx.Services("")
		return err
	})
	if err != nil {
		return internal("list services", err)
	}
	slices.SortStableFunc(all, func(x, y store.Service) int {
		if c := strings.Compare(x.Cluster, y.Cluster); c != 0 {
			return c
		}
		return daemonRank(x) - daemonRank(y)
	})
	var first error
	for len(all) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cluster := all[0].Cluster
		n := 1
		for n < len(all) && all[n].Cluster == cluster {
			n++
		}
		mine := all[:n]
		all = all[n:]
		busy := map[string]bool{}
		if err := a.busyServices(cluster, busy); err != nil {
			a.log.Error("service check failed", "cluster", cluster, logging.KeyError, err)
			first = cmpErr(first, err)
			continue
		}
		var names []string
		for _, s := range mine {
			if s.Status != store.ServiceInactive && busy[s.ARN] {
				names = append(names, s.Name)
			}
		}
		first = cmpErr(first, a.reconcileCluster(ctx, cluster, names))
	}
	return first
}

// A service round writes several services of a cluster in one transaction,
// up to roundTxServices of them and for about roundTxBudget: each write
// transaction reads the cluster's instances and live tasks once, which a
// transaction per service did again for every one (most of the control
// plane's CPU in a rollout of 50 services on 500 instances), while the
// budget bounds how long RunTask and the agents' reports wait for the
// write lock behind it.
const (
	roundTxServices = 16
	roundTxBudget   = 8 * time.Millisecond
	// roundYieldLimit bounds how long a round waits, before each write
	// transaction, for the API requests waiting for the write lock to have
	// had it (requestGate.await): long enough for a request that waits
	// behind an agents' batch and its sync, short enough that a stream of
	// requests cannot stall the scheduler.
	roundYieldLimit = 25 * time.Millisecond
)

// reconcileCluster reconciles the named services of cluster, in order, in
// as few write transactions as the bounds allow. When one fails, the
// services it held are done again one per transaction, so that a service
// that cannot be written does not hold back the others.
func (a *API) reconcileCluster(ctx context.Context, cluster string, names []string) error {
	var first error
	for len(names) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tried, err := a.reconcileServices(cluster, names, roundTxServices)
		if err != nil {
			if tried == 0 { // the store refused before the transaction began
				tried = len(names)
			}
			for _, name := range names[:tried] {
				if err := a.reconcileService(cluster, name); err != nil {
					a.log.Error("service reconcile failed", logKeyService, a.serviceARN(cluster, name), logging.KeyError, err)
					first = cmpErr(first, err)
				}
			}
		}
		names = names[tried:]
	}
	return first
}

// reconcileService reconciles one service in a transaction of its own.
func (a *API) reconcileService(cluster, name string) error {
	_, err := a.reconcileServices(cluster, []string{name}, 1)
	return err
}

// serviceResult is what a service's reconcile did, logged after commit.
type serviceResult struct {
	name             string
	started, stopped int
}

// reconcileServices reconciles the first services of names, at most limit
// and for about roundTxBudget (a.roundBudget), and no more once an API
// request waits for the write lock (update), in one write transaction
// that begins once the requests already waiting have had the lock,
// and returns how many it took (all of them when the cluster is gone; 0
// when the store refused the transaction). Each service is
// read, decided on (services.Reconcile) and written in turn; the tasks
// one starts count for the placement of the next, as they would in
// transactions of their own.
func (a *API) reconcileServices(cluster string, names []string, limit int) (tried int, err error) {
	a.requests.await(a.roundYield)
	var results []serviceResult
	err = a.o.Store.Update(func(tx store.Tx) error {
		tried, results = 0, results[:0] // a retried transaction starts over
		c, err := tx.Cluster(cluster)
		if err != nil || c.Status != store.StatusActive {
			tried = len(names)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		instances, live, err := placementState(tx, cluster)
		if err != nil {
			tried = min(1, len(names))
			return err
		}
		view := newPlacementView(instances, live, a.attrMaps.of)
		began := time.Now() // the real clock: this bounds the lock, not the schedule
		for _, name := range names {
			if tried == limit || (tried > 0 && (time.Since(began) >= a.roundBudget || a.requests.busy())) {
				break
			}
			tried++
			r, err := a.reconcileOne(tx, c, name, instances, &live, view)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return tried, err
	}
	for _, r := range results {
		if r.started+r.stopped > 0 {
			a.log.Info("service reconciled", logKeyService, a.serviceARN(cluster, r.name),
				"started", r.started, "stopped", r.stopped)
		}
	}
	return tried, nil
}

// busyServices marks, by ARN, the services of cluster that have something
// to do, as reconcileService would decide it now.
func (a *API) busyServices(cluster string, busy map[string]bool) error {
	return a.o.Store.View(func(tx store.Tx) error {
		c, err := tx.Cluster(cluster)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || c.Status != store.StatusActive {
			return err
		}
		all, err := tx.Services(cluster)
		if err != nil {
			return internal("list services", err)
		}
		instances, live, err := placementState(tx, cluster)
		if err != nil {
			return err
		}
		candidates := a.candidates(instances, live)
		for _, svc := range all {
			if svc.Status == store.ServiceInactive {
				continue
			}
			plan, _, err := a.planService(tx, svc, instances, live, candidates)
			if err != nil {
				return err
			}
			busy[svc.ARN] = len(plan.Starts)+len(plan.Stops) > 0 || !sameService(svc, plan.Service)
		}
		return nil
	})
}

// planService is services.Reconcile's decision for svc, and the service's
// tasks it was made on.
func (a *API) planService(tx store.Tx, svc store.Service, instances []store.ContainerInstance,
	live []store.LiveTask, candidates []scheduler.Instance) (services.Plan, []store.Task, error) {
	mine, err := serviceTasks(tx, svc, live, instances)
	if err != nil {
		return services.Plan{}, nil, err
	}
	defs := &definitions{tx: tx}
	health := map[string]services.Health{}
	for _, t := range mine {
		health[t.ID] = a.serviceTaskHealth(t, defs.of(t))
	}
	plan := services.Reconcile(services.Input{
		Service: svc, Tasks: mine, Health: health, Instances: candidates,
		Now: a.now(), NewDeploymentID: newDeploymentID,
	})
	return plan, mine, nil
}

func daemonRank(s store.Service) int {
	if s.SchedulingStrategy == store.SchedulingDaemon {
		return 0
	}
	return 1
}

// reconcileOne reads one service and its tasks, lets services.Reconcile
// decide on the cluster's instances and live tasks as given, and writes
// the decision: stops, placed starts and the service. The tasks it starts
// are added to live and to view, the placement view of instances and
// live.
func (a *API) reconcileOne(tx store.Tx, c store.Cluster, name string, instances []store.ContainerInstance,
	live *[]store.LiveTask, view *placementView) (serviceResult, error) {
	r := serviceResult{name: name}
	svc, err := tx.Service(c.Name, name)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil
	}
	if err != nil || svc.Status == store.ServiceInactive {
		return r, err
	}
	plan, mine, err := a.planService(tx, svc, instances, *live, view.cands)
	if err != nil {
		return r, err
	}
	next := plan.Service
	stopped, err := a.applyStops(tx, &next, mine, plan.Stops)
	if err != nil {
		return r, err
	}
	r.stopped = len(stopped)
	for _, st := range plan.Starts {
		ids, err := a.applyStart(tx, &next, c, st, instances, live, view)
		if err != nil {
			return r, err
		}
		r.started += len(ids)
	}
	if sameService(svc, next) {
		return r, nil
	}
	return r, putOrInternal(tx.PutService(next), "write service")
}

// serviceTasks are the service's tasks that are not STOPPED, and those it
// tracks that are (so that their stop is noticed). Tasks left on an
// instance deregistered with force are orphans no agent will report on
// again: they are left out, so the scheduler forgets them (without
// counting a failure) and replaces them.
func serviceTasks(tx store.Tx, svc store.Service, live []store.LiveTask, instances []store.ContainerInstance) ([]store.Task, error) {
	gone := map[string]bool{}
	for _, ci := range instances {
		if ci.Status == store.StatusInactive {
			gone[ci.ARN] = true
		}
	}
	group := serviceGroup(svc.Name)
	out := make([]store.Task, 0, len(svc.Tasks)) // the tasks it tracks: about those it has
	seen := make(map[string]bool, len(svc.Tasks))
	for _, lt := range live {
		if lt.Group != group {
			continue
		}
		seen[lt.ID] = true
		if gone[lt.ContainerInstanceARN] {
			continue
		}
		t, err := tx.Task(svc.Cluster, lt.ID)
		if err != nil {
			return nil, internal("read task", err)
		}
		out = append(out, t)
	}
	for _, st := range svc.Tasks {
		if seen[st.ID] {
			continue
		}
		t, err := tx.Task(svc.Cluster, st.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // pruned: Reconcile notices it as stopped
		}
		if err != nil {
			return nil, internal("read task", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// serviceTaskHealth is a task's health as the scheduler counts it: RUNNING
// and, if an essential container has a health check, HEALTHY; without one,
// RUNNING for runningSettleTime.
func (a *API) serviceTaskHealth(t store.Task, def *store.TaskDefinition) services.Health {
	if t.LastStatus != store.TaskRunning {
		return services.HealthUnknown
	}
	if def == nil || !slices.ContainsFunc(def.ContainerDefinitions, func(c store.ContainerDefinition) bool {
		return c.IsEssential() && c.HealthCheck != nil
	}) {
		// Without a health check, a task counts once it has kept running
		// a little: a container that exits at once is often reported
		// RUNNING for a moment, and must not complete a rollout (or let
		// the old tasks go) in that moment.
		if t.StartedAt != nil && a.now().Sub(*t.StartedAt) >= runningSettleTime {
			return services.HealthHealthy
		}
		return services.HealthUnknown
	}
	out := taskView(t, false)
	a.withHealth(&out, def)
	switch out.HealthStatus {
	case telemetry.Healthy:
		return services.HealthHealthy
	case telemetry.Unhealthy:
		return services.HealthUnhealthy
	}
	return services.HealthUnknown
}

// applyStops asks the agents to stop the tasks, as StopTask does, with the
// service scheduler's stop code.
func (a *API) applyStops(tx store.Tx, svc *store.Service, tasks []store.Task, stops []services.Stop) ([]string, error) {
	byID := map[string]store.Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	var ids []string
	now := a.now()
	for _, s := range stops {
		t, ok := byID[s.TaskID]
		if !ok || t.DesiredStatus == store.TaskStopped {
			continue
		}
		t.DesiredStatus = store.TaskStopped
		t.StoppingAt = &now
		t.StopCode = store.StopCodeServiceScheduler
		t.StoppedReason = s.Reason
		t.Version++
		if err := tx.PutTask(t); err != nil {
			return nil, internal("write task", err)
		}
		ids = append(ids, t.ID)
	}
	if len(ids) > 0 {
		a.addEvent(svc, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", svc.Name, len(ids), services.TaskList(ids)))
	}
	return ids, nil
}

// applyStart places a start with the same path as RunTask (placeTasks) and
// records the tasks it started, or why it could not.
func (a *API) applyStart(tx store.Tx, svc *store.Service, c store.Cluster, st services.Start,
	instances []store.ContainerInstance, live *[]store.LiveTask, view *placementView) ([]string, error) {
	var dep *store.Deployment
	for i := range svc.Deployments {
		if svc.Deployments[i].ID == st.DeploymentID {
			dep = &svc.Deployments[i]
		}
	}
	if dep == nil {
		return nil, nil
	}
	td, err := a.deployedTaskDefinition(tx, dep.TaskDefinitionARN)
	var apiErr *Error
	if errors.As(err, &apiErr) {
		a.placementEvent(svc, apiErr.Message)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l, err := a.serviceLaunch(*svc, c, td, dep.ID)
	if errors.As(err, &apiErr) {
		a.placementEvent(svc, apiErr.Message)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	candidates := view.candidates()
	strategies := schedulerStrategies(svc.PlacementStrategy)
	if st.Instance != "" {
		candidates = slices.DeleteFunc(candidates, func(si scheduler.Instance) bool { return si.ARN != st.Instance })
		strategies = nil
	} else {
		if candidates, err = a.reserveForDaemons(tx, c.Name, svc.Name, candidates); err != nil {
			return nil, err
		}
		if len(strategies) == 0 {
			strategies = defaultServiceStrategies
		}
	}
	var constraints []scheduler.Constraint
	for _, pc := range svc.PlacementConstraints {
		constraints = append(constraints, scheduler.Constraint{Type: pc.Type, Expression: pc.Expression})
	}
	created, failures, err := a.placeTasks(tx, l, st.Count, strategies, constraints, candidates, instances)
	if errors.As(err, &apiErr) {
		a.placementEvent(svc, apiErr.Message)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range created {
		svc.Tasks = append(svc.Tasks, store.ServiceTask{ID: t.ID, DeploymentID: dep.ID})
		*live = append(*live, t.Live())
		view.add(t.Live())
		ids = append(ids, t.ID)
	}
	if len(ids) > 0 {
		a.addEvent(svc, fmt.Sprintf("(service %s) has started %d tasks: %s.", svc.Name, len(ids), services.TaskList(ids)))
	}
	if len(created) < st.Count {
		a.placementEvent(svc, placementFailureReason(failures, instances))
	}
	return ids, nil
}

// placementEvent writes ECS's "unable to place" event, at most once per
// placementEventInterval.
func (a *API) placementEvent(svc *store.Service, reason string) {
	now := a.now()
	if now.Sub(svc.LastPlacementEventAt) < placementEventInterval {
		return
	}
	svc.LastPlacementEventAt = now
	a.addEvent(svc, fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements. Reason: %s",
		svc.Name, reason))
}

// placementFailureReason words the scheduler's failures as ECS's events do.
func placementFailureReason(failures []failure, instances []store.ContainerInstance) string {
	if !slices.ContainsFunc(instances, func(ci store.ContainerInstance) bool { return ci.Status == store.StatusActive }) {
		return msgNoInstances
	}
	if len(failures) == 0 {
		return "No ACTIVE container instance could take the task."
	}
	f := failures[0]
	closest := "The closest matching (container-instance " + f.ARN[strings.LastIndex(f.ARN, "/")+1:] + ")"
	switch f.Reason {
	case scheduler.ReasonCPU:
		return closest + " has insufficient CPU units available."
	case scheduler.ReasonMemory:
		return closest + " has insufficient memory available."
	case scheduler.ReasonPorts, scheduler.ReasonPortsUDP:
		return closest + " is already using a port required by your task."
	case scheduler.ReasonAttribute:
		return closest + " is missing an attribute required by your task."
	case scheduler.ReasonAgent:
		return closest + " has no connected agent."
	case scheduler.ReasonGPU:
		return closest + " has insufficient GPUs available."
	}
	return closest + ": " + f.Reason
}

// serviceLaunch is what a deployment's task is launched as: the service's
// startedBy (the deployment ID) and group, and its tags.
func (a *API) serviceLaunch(svc store.Service, c store.Cluster, td store.TaskDefinition, deploymentID string) (*launch, error) {
	managed := svc.EnableECSManagedTags
	tt := taskTagging{PropagateTags: svc.PropagateTags, EnableECSManagedTags: &managed}
	tags, err := tagsForTask(tt, c.Name, td, &taskService{Name: svc.Name, Tags: svc.Tags})
	if err != nil {
		return nil, err
	}
	resolved, err := payload.Resolve(td, nil)
	if err != nil {
		return nil, internal("resolve task definition", err)
	}
	group := serviceGroup(svc.Name)
	return &launch{
		in: launchInput{Cluster: c.Name, TaskDefinition: td.ARN, StartedBy: deploymentID, Group: group,
			LaunchType: serviceLaunchType(svc)},
		cluster: c, td: td, resolved: resolved, need: taskNeed(resolved), group: group, tags: tags,
	}, nil
}

func schedulerStrategies(in []store.PlacementStrategy) []scheduler.Strategy {
	var out []scheduler.Strategy
	for _, s := range in {
		out = append(out, scheduler.Strategy{Type: s.Type, Field: s.Field})
	}
	return out
}

// sameService reports whether a reconcile changed nothing worth a write.
func sameService(x, y store.Service) bool {
	a, errA := json.Marshal(x)
	b, errB := json.Marshal(y)
	return errA == nil && errB == nil && string(a) == string(b)
}
