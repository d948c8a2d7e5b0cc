package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Limits of RunTask and StartTask, as ECS has them.
const (
	maxRunCount         = 10
	maxStartInstances   = 10
	maxStartedByLength  = 128
	maxGroupLength      = 255
	maxStopReasonLength = 255
	msgNoInstances      = "No Container Instances were found in your cluster."
	reasonUserStopped   = "Task stopped by user"
)

// taskOps returns the task operations (RunTask, StartTask, StopTask,
// DescribeTasks, ListTasks and the agent's state-change submissions).
func (a *API) taskOps() map[string]opFunc {
	return map[string]opFunc{
		"RunTask":                    a.runTask,
		"StartTask":                  a.startTask,
		"StopTask":                   a.stopTask,
		"DescribeTasks":              a.describeTasks,
		"ListTasks":                  a.listTasks,
		"SubmitTaskStateChange":      a.submitTaskStateChange,
		"SubmitContainerStateChange": a.submitContainerStateChange,
	}
}

func (a *API) taskARN(cluster, id string) string {
	return a.arnPrefix() + "task/" + cluster + "/" + id
}

// launchInput holds what RunTask and StartTask share.
type launchInput struct {
	Cluster        string          `json:"cluster"`
	TaskDefinition string          `json:"taskDefinition"`
	Overrides      json.RawMessage `json:"overrides"`
	StartedBy      string          `json:"startedBy"`
	Group          string          `json:"group"`
	LaunchType     string          `json:"launchType"`
	taskTagging
}

func (in *launchInput) validate() error {
	if in.TaskDefinition == "" {
		return invalidParam("taskDefinition can not be blank.")
	}
	if len(in.StartedBy) > maxStartedByLength {
		return invalidParam("startedBy can have at most %d characters.", maxStartedByLength)
	}
	if len(in.Group) > maxGroupLength {
		return invalidParam("group can have at most %d characters.", maxGroupLength)
	}
	if in.LaunchType != "" && in.LaunchType != launchTypeEC2 && in.LaunchType != launchTypeExternal {
		return invalidParam("launchType %s is not supported: use EC2, or EXTERNAL for instances registered with ECS_EXTERNAL=true.", in.LaunchType)
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	return validatePropagateTags(in.PropagateTags, false)
}

// launch is a validated RunTask or StartTask inside its transaction.
type launch struct {
	in      launchInput
	cluster store.Cluster
	td      store.TaskDefinition
	// resolved is td with the overrides applied: what the task runs.
	resolved store.TaskDefinition
	need     scheduler.Resources
	group    string
	tags     []store.Tag
}

// prepare resolves the cluster and task definition and computes the need.
func (a *API) prepare(tx store.Tx, in launchInput) (*launch, error) {
	c, err := a.activeCluster(tx, in.Cluster)
	if err != nil {
		return nil, err
	}
	td, found, err := a.lookupTaskDefinition(tx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, clientErr(CodeClientException, "Unable to find task definition %s: register it first or check the family and revision.", in.TaskDefinition)
	}
	if td.Status != store.StatusActive {
		return nil, clientErr(CodeClientException, "TaskDefinition %s is inactive (status %s): run an ACTIVE revision.", td.ARN, td.Status)
	}
	if err := checkCompatibility(td, normalLaunchType(in.LaunchType)); err != nil {
		return nil, err
	}
	resolved, err := payload.Resolve(td, in.Overrides)
	if errors.Is(err, payload.ErrInvalidOverride) {
		return nil, invalidParam("%s", err.Error())
	}
	if err != nil {
		return nil, internal("apply overrides", err)
	}
	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	tags, err := tagsForTask(in.taskTagging, c.Name, td, nil)
	if err != nil {
		return nil, err
	}
	return &launch{in: in, cluster: c, td: td, resolved: resolved, need: taskNeed(resolved), group: group, tags: tags}, nil
}

// newTask builds the PENDING task placed on instance.
func (a *API) newTask(l *launch, ci store.ContainerInstance) store.Task {
	id := newInstanceID()
	arn := a.taskARN(l.cluster.Name, id)
	now := a.now()
	t := store.Task{
		ID:                   id,
		Cluster:              l.cluster.Name,
		ARN:                  arn,
		ClusterARN:           l.cluster.ARN,
		TaskDefinitionARN:    l.td.ARN,
		ContainerInstanceARN: ci.ARN,
		Overrides:            l.in.Overrides,
		LastStatus:           store.TaskPending,
		DesiredStatus:        store.TaskRunning,
		StartedBy:            l.in.StartedBy,
		Group:                l.group,
		Version:              1,
		Connectivity:         "CONNECTED",
		ConnectivityAt:       &now,
		LaunchType:           l.launchType(),
		AvailabilityZone:     attributeValue(ci.Attributes, "ecs.availability-zone"),
		Tags:                 l.tags,
		CreatedAt:            now,
		Family:               l.td.Family,
		Revision:             l.td.Revision,
		Reserved: store.Reservation{
			CPU: l.need.CPU, MemoryMiB: l.need.MemoryMiB,
			PortsTCP: l.need.PortsTCP, PortsUDP: l.need.PortsUDP,
		},
		RoleCredentials: roleCredentials(l.resolved),
	}
	// Task-level sizes show in ECS units (CPU units, MiB) when set.
	if l.resolved.CPU != "" {
		t.CPU = strconv.Itoa(l.need.CPU)
	}
	if l.resolved.Memory != "" {
		t.Memory = strconv.Itoa(l.need.MemoryMiB)
	}
	for _, c := range l.resolved.ContainerDefinitions {
		tc := store.TaskContainer{
			ContainerARN:    a.arnPrefix() + "container/" + l.cluster.Name + "/" + id + "/" + uuid.NewString(),
			TaskARN:         arn,
			Name:            c.Name,
			Image:           c.Image,
			LastStatus:      store.TaskPending,
			NetworkBindings: []store.NetworkBinding{},
			CPU:             strconv.Itoa(c.CPU),
			Essential:       c.IsEssential(),
		}
		if c.Memory != nil {
			tc.Memory = strconv.Itoa(*c.Memory)
		}
		if c.MemoryReservation != nil {
			tc.MemoryReservation = strconv.Itoa(*c.MemoryReservation)
		}
		t.Containers = append(t.Containers, tc)
	}
	return t
}

func attributeValue(attrs []store.Attribute, name string) string {
	for _, at := range attrs {
		if at.Name == name && at.Value != nil {
			return *at.Value
		}
	}
	return ""
}

type runTaskInput struct {
	launchInput
	ClientToken          string                 `json:"clientToken"`
	Count                *int                   `json:"count"`
	PlacementStrategy    []scheduler.Strategy   `json:"placementStrategy"`
	PlacementConstraints []scheduler.Constraint `json:"placementConstraints"`
}

// runTask places count tasks with the scheduler and stores them PENDING.
// Delivery to the agents follows from the stored tasks (package delivery).
// A clientToken makes retries return the first request's tasks (tokens.go).
func (a *API) runTask(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in runTaskInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if err := validateClientToken(in.ClientToken); err != nil {
		return nil, err
	}
	fp := fingerprint(in)
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > maxRunCount {
		return nil, invalidParam("count must be between 1 and %d.", maxRunCount)
	}
	if err := scheduler.Validate(in.PlacementStrategy, in.PlacementConstraints); err != nil {
		return nil, placementErr(err)
	}

	plan := a.planRunTask(in, count)
	var created []store.Task
	var failures []failure
	replayed := false
	err := a.update(func(tx store.Tx) error {
		created, failures, replayed = nil, nil, false
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		if created, failures, replayed, err = a.replayRunTask(tx, c.Name, in.ClientToken, fp); replayed || err != nil {
			return err
		}
		l, err := a.prepare(tx, in.launchInput)
		if err != nil {
			return err
		}
		placed, err := a.placeOnPlan(tx, l, count, in, plan)
		if err != nil {
			return err
		}
		if placed != nil {
			created = placed
			return a.recordRunTask(tx, l.cluster.Name, in.ClientToken, fp, created, nil)
		}
		instances, tasks, err := placementState(tx, l.cluster.Name)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(instances, func(ci store.ContainerInstance) bool { return ci.Status != store.StatusInactive }) {
			return invalidParam(msgNoInstances)
		}
		var more []failure
		created, more, err = a.placeTasks(tx, l, count, in.PlacementStrategy, in.PlacementConstraints,
			a.candidates(instances, tasks), instances)
		if err != nil {
			return err
		}
		failures = append(failures, more...)
		return a.recordRunTask(tx, l.cluster.Name, in.ClientToken, fp, created, failures)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		a.log.Info("RunTask repeated with its clientToken; answering with the tasks it started",
			logging.KeyCount, len(created))
		return taskList(created, failures), nil
	}
	return a.launched(created, failures), nil
}

// placeTasks places count tasks of l on candidates with the scheduler and
// writes them PENDING: the one placement path of RunTask and of the
// service scheduler. The task definition's constraints are added to
// constraints; instances are the container instances the candidates
// stand for.
func (a *API) placeTasks(tx store.Tx, l *launch, count int, strategies []scheduler.Strategy, constraints []scheduler.Constraint,
	candidates []scheduler.Instance, instances []store.ContainerInstance) ([]store.Task, []failure, error) {
	res, err := place(l, count, strategies, constraints, candidates)
	if err != nil {
		return nil, nil, err
	}
	return a.writePlaced(tx, l, res, instances)
}

// place asks the scheduler where count tasks of l go among candidates,
// with the task definition's constraints added to constraints.
func place(l *launch, count int, strategies []scheduler.Strategy, constraints []scheduler.Constraint,
	candidates []scheduler.Instance) (scheduler.Result, error) {
	constraints = slices.Clone(constraints)
	for _, pc := range l.td.PlacementConstraints {
		constraints = append(constraints, scheduler.Constraint{Type: pc.Type, Expression: pc.Expression})
	}
	res, err := scheduler.Place(candidates, scheduler.Request{
		Count:       count,
		Need:        l.schedulerNeed(),
		Strategies:  strategies,
		Constraints: constraints,
	})
	if err != nil {
		return res, placementErr(err)
	}
	return res, nil
}

// writePlaced writes a task PENDING for each of res's placements on
// instances (the container instances they name), and returns them with
// the failures to answer.
func (a *API) writePlaced(tx store.Tx, l *launch, res scheduler.Result, instances []store.ContainerInstance) ([]store.Task, []failure, error) {
	var failures []failure
	// A task that would be placed, but whose roles nothing can issue
	// credentials for, is not started (after placement, so that an
	// instance without the role attribute still says ATTRIBUTE).
	if why := a.roleRefusal(l); why != "" && len(res.Placements) > 0 {
		res.Placements = nil
		failures = append(failures, failure{ARN: l.td.ARN, Reason: why})
	}
	byARN := map[string]store.ContainerInstance{}
	for _, ci := range instances {
		byARN[ci.ARN] = ci
	}
	var created []store.Task
	for _, arn := range res.Placements {
		t := a.newTask(l, byARN[arn])
		if err := tx.PutTask(t); err != nil {
			return nil, nil, internal("write task", err)
		}
		created = append(created, t)
	}
	for _, f := range res.Failures {
		failures = append(failures, failure{ARN: f.ARN, Reason: f.Reason})
	}
	return created, failures, nil
}

// placementErr turns the scheduler's validation error into the
// InvalidParameterException that carries its message.
func placementErr(err error) error {
	if !errors.Is(err, scheduler.ErrInvalid) {
		return internal("place tasks", err)
	}
	return invalidParam("%s", strings.TrimPrefix(err.Error(), scheduler.ErrInvalid.Error()+": "))
}

// launched logs and answers the tasks RunTask or StartTask created.
func (a *API) launched(created []store.Task, failures []failure) map[string]any {
	for _, t := range created {
		a.log.Info("task created", logging.KeyTask, t.ARN, logging.KeyTaskFamily, t.Family,
			logging.KeyContainerInstance, t.ContainerInstanceARN)
	}
	for _, f := range failures {
		a.log.Info("task not placed", logging.KeyContainerInstance, f.ARN, logging.KeyReason, f.Reason)
	}
	return taskList(created, failures)
}

// taskList is the answer of RunTask and StartTask.
func taskList(tasks []store.Task, failures []failure) map[string]any {
	out := make([]taskOut, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskView(t, true))
	}
	if failures == nil {
		failures = []failure{}
	}
	return map[string]any{"tasks": out, "failures": failures}
}

type startTaskInput struct {
	launchInput
	ContainerInstances []string `json:"containerInstances"`
}

// startTask starts one task on each named instance, without placement
// strategies or constraints; resources and the agent connection are still
// checked.
func (a *API) startTask(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in startTaskInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, invalidParam("containerInstances can not be empty.")
	}
	if len(in.ContainerInstances) > maxStartInstances {
		return nil, invalidParam("containerInstances can have at most %d items.", maxStartInstances)
	}
	var created []store.Task
	var failures []failure
	err := a.update(func(tx store.Tx) error {
		l, err := a.prepare(tx, in.launchInput)
		if err != nil {
			return err
		}
		for _, ref := range in.ContainerInstances {
			ci, found, err := a.lookupInstance(tx, l.cluster.Name, ref)
			if err != nil {
				return err
			}
			if !found {
				failures = append(failures, failure{ARN: a.missingARN(l.cluster.Name, ref), Reason: reasonMissing})
				continue
			}
			// Tasks written for earlier instances of this request count.
			tasks, err := tx.LiveTaskSummaries(l.cluster.Name, ci.ARN)
			if err != nil {
				return internal("list tasks", err)
			}
			res, err := scheduler.Place(placementInstances([]store.ContainerInstance{ci}, tasks), scheduler.Request{
				Count: 1, Need: l.schedulerNeed(),
			})
			if err != nil {
				return internal("place task", err)
			}
			if len(res.Placements) == 0 {
				reason := ci.Status // not ACTIVE: DRAINING or INACTIVE
				if len(res.Failures) > 0 {
					reason = res.Failures[0].Reason
				}
				failures = append(failures, failure{ARN: ci.ARN, Reason: reason})
				continue
			}
			if why := a.roleRefusal(l); why != "" {
				failures = append(failures, failure{ARN: ci.ARN, Reason: why})
				continue
			}
			t := a.newTask(l, ci)
			if err := tx.PutTask(t); err != nil {
				return internal("write task", err)
			}
			created = append(created, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.launched(created, failures), nil
}

type stopTaskInput struct {
	Cluster string `json:"cluster"`
	Task    string `json:"task"`
	Reason  string `json:"reason"`
}

// stopTask sets the task's desired status to STOPPED; the agent is told
// through delivery, and lastStatus follows its state changes.
func (a *API) stopTask(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in stopTaskInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, invalidParam("task can not be blank.")
	}
	if len(in.Reason) > maxStopReasonLength {
		return nil, invalidParam("reason can have at most %d characters.", maxStopReasonLength)
	}
	var t store.Task
	changed := false
	err := a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		var found bool
		t, found, err = a.lookupTask(tx, c.Name, in.Task)
		if err != nil {
			return err
		}
		if !found {
			return invalidParam("The referenced task was not found: %s.", in.Task)
		}
		if t.DesiredStatus == store.TaskStopped {
			return nil
		}
		now := a.now()
		t.DesiredStatus = store.TaskStopped
		t.StoppingAt = &now
		t.StopCode = store.StopCodeUserInitiated
		t.StoppedReason = in.Reason
		if t.StoppedReason == "" {
			t.StoppedReason = reasonUserStopped
		}
		t.Version++
		changed = true
		if err := tx.PutTask(t); err != nil {
			return internal("write task", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		a.log.Info("task stop requested", logging.KeyTask, t.ARN, logging.KeyReason, t.StoppedReason)
	}
	return map[string]any{"task": taskView(t, true)}, nil
}
