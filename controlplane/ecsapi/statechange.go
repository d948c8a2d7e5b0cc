package ecsapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

const (
	maxStateReasonLength = 1024
	maxRuntimeIDLength   = 255
	maxImageDigestLength = 255
	reasonEssentialExit  = "Essential container in task exited"
)

// The timestamps the store can keep: years 0 to 9999, in seconds since the
// epoch, as awsJson1_1 sends them.
var (
	minEpochSeconds = float64(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	maxEpochSeconds = float64(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix())
)

// networkBindingIn is the ECS NetworkBinding the agent sends.
type networkBindingIn = store.NetworkBinding

type containerChangeIn struct {
	ContainerName   string             `json:"containerName"`
	ImageDigest     string             `json:"imageDigest"`
	RuntimeID       string             `json:"runtimeId"`
	ExitCode        *int               `json:"exitCode"`
	NetworkBindings []networkBindingIn `json:"networkBindings"`
	Reason          string             `json:"reason"`
	Status          string             `json:"status"`
}

type taskChangeIn struct {
	Cluster            string              `json:"cluster"`
	Task               string              `json:"task"`
	Status             string              `json:"status"`
	Reason             string              `json:"reason"`
	Containers         []containerChangeIn `json:"containers"`
	PullStartedAt      *float64            `json:"pullStartedAt"`
	PullStoppedAt      *float64            `json:"pullStoppedAt"`
	ExecutionStoppedAt *float64            `json:"executionStoppedAt"`
	// A report is a fact, not a request: refusing it would leave the
	// task's status unrecorded while the agent retries forever. ENI
	// attachments (awsvpc) and managed agents (ECS Exec) are features this
	// control plane never asks an agent for, so their reports are read
	// and dropped.
	Attachments   json.RawMessage `json:"attachments"`
	ManagedAgents json.RawMessage `json:"managedAgents"`
}

type containerChangeInput struct {
	Cluster string `json:"cluster"`
	Task    string `json:"task"`
	containerChangeIn
}

// fromEpoch reads an awsJson1_1 timestamp (epoch seconds), nil when
// absent. A time the store cannot keep is an InvalidParameterException
// naming field, never a failed write that loses the state change.
func fromEpoch(field string, f *float64) (*time.Time, error) {
	if f == nil {
		return nil, nil
	}
	if math.IsNaN(*f) || *f < minEpochSeconds || *f > maxEpochSeconds {
		return nil, invalidParam("%s must be a time between the years 0 and 9999, in seconds since the epoch; got %g.", field, *f)
	}
	t := time.UnixMilli(int64(math.Round(*f * 1000))).UTC()
	return &t, nil
}

func validStatus(field, s string, allowEmpty bool) error {
	if s == "" && allowEmpty {
		return nil
	}
	if store.TaskStatusRank(s) == 0 {
		return invalidParam("%s must be PENDING, RUNNING or STOPPED, not %q.", field, s)
	}
	return nil
}

func (c *containerChangeIn) validate() error {
	if c.ContainerName == "" {
		return invalidParam("containerName can not be blank.")
	}
	if len(c.Reason) > maxStateReasonLength {
		return invalidParam("reason of container %s can have at most %d characters.", c.ContainerName, maxStateReasonLength)
	}
	if len(c.RuntimeID) > maxRuntimeIDLength {
		return invalidParam("runtimeId of container %s can have at most %d characters.", c.ContainerName, maxRuntimeIDLength)
	}
	if len(c.ImageDigest) > maxImageDigestLength {
		return invalidParam("imageDigest of container %s can have at most %d characters.", c.ContainerName, maxImageDigestLength)
	}
	return validStatus("status of container "+c.ContainerName, c.Status, true)
}

// submitTaskStateChange records what the agent reports about a task and
// its containers. Statuses only move forward, so a late or repeated report
// never undoes a newer one.
func (a *API) submitTaskStateChange(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in taskChangeIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, invalidParam("task can not be blank.")
	}
	if err := validStatus("status", in.Status, true); err != nil {
		return nil, err
	}
	if len(in.Reason) > maxStateReasonLength {
		return nil, invalidParam("reason can have at most %d characters.", maxStateReasonLength)
	}
	for i := range in.Containers {
		if err := in.Containers[i].validate(); err != nil {
			return nil, err
		}
	}
	pullStarted, err := fromEpoch("pullStartedAt", in.PullStartedAt)
	if err != nil {
		return nil, err
	}
	pullStopped, err := fromEpoch("pullStoppedAt", in.PullStoppedAt)
	if err != nil {
		return nil, err
	}
	executionStopped, err := fromEpoch("executionStoppedAt", in.ExecutionStoppedAt)
	if err != nil {
		return nil, err
	}
	return a.updateTask(ctx, "SubmitTaskStateChange", in.Cluster, in.Task, func(t *store.Task) bool {
		changed := false
		for _, c := range in.Containers {
			changed = applyContainerChange(t, c) || changed
		}
		for _, ts := range []struct {
			dst **time.Time
			src *time.Time
		}{{&t.PullStartedAt, pullStarted}, {&t.PullStoppedAt, pullStopped}, {&t.ExecutionStoppedAt, executionStopped}} {
			if v := ts.src; v != nil && (*ts.dst == nil || !(*ts.dst).Equal(*v)) {
				*ts.dst = v
				changed = true
			}
		}
		if store.TaskStatusRank(in.Status) > store.TaskStatusRank(t.LastStatus) {
			a.advanceTask(t, in.Status, in.Reason)
			changed = true
		}
		return changed
	})
}

// advanceTask moves the task's lastStatus forward and stamps the times.
func (a *API) advanceTask(t *store.Task, status, reason string) {
	now := a.now()
	t.LastStatus = status
	if status == store.TaskRunning && t.StartedAt == nil {
		t.StartedAt = &now
	}
	if status != store.TaskStopped {
		return
	}
	t.StoppedAt = &now
	if t.ExecutionStoppedAt == nil {
		t.ExecutionStoppedAt = &now
	}
	if t.StoppingAt == nil {
		t.StoppingAt = &now
	}
	for i := range t.Containers {
		// Containers that never reported cannot run on.
		t.Containers[i].LastStatus = store.TaskStopped
	}
	if t.DesiredStatus != store.TaskStopped {
		// The task stopped on its own; there is nothing left to run.
		t.DesiredStatus = store.TaskStopped
	}
	if t.StopCode == store.StopCodeUserInitiated || t.StopCode == store.StopCodeServiceScheduler {
		return // StopTask's or the service scheduler's reason stands
	}
	switch {
	case essentialExited(t):
		t.StopCode, t.StoppedReason = store.StopCodeEssentialContainerExited, reasonEssentialExit
	case t.StartedAt == nil:
		t.StopCode, t.StoppedReason = store.StopCodeTaskFailedToStart, reason
	default:
		t.StoppedReason = reason
	}
}

// essentialExited reports whether an essential container exited by itself
// (it reported an exit code).
func essentialExited(t *store.Task) bool {
	for _, c := range t.Containers {
		if c.Essential && c.ExitCode != nil {
			return true
		}
	}
	return false
}

// applyContainerChange updates the named container; unknown names are
// ignored (the agent may know containers this control plane did not send).
func applyContainerChange(t *store.Task, c containerChangeIn) bool {
	for i := range t.Containers {
		tc := &t.Containers[i]
		if tc.Name != c.ContainerName {
			continue
		}
		before := tc.LastStatus + tc.RuntimeID + tc.Reason + tc.ImageDigest
		if c.RuntimeID != "" {
			tc.RuntimeID = c.RuntimeID
		}
		if c.ImageDigest != "" {
			tc.ImageDigest = c.ImageDigest
		}
		if c.Reason != "" {
			tc.Reason = c.Reason
		}
		changed := false
		if c.ExitCode != nil && (tc.ExitCode == nil || *tc.ExitCode != *c.ExitCode) {
			code := *c.ExitCode
			tc.ExitCode = &code
			changed = true
		}
		if len(c.NetworkBindings) > 0 {
			tc.NetworkBindings = c.NetworkBindings
			changed = true
		}
		if store.TaskStatusRank(c.Status) > store.TaskStatusRank(tc.LastStatus) {
			tc.LastStatus = c.Status
		}
		return changed || before != tc.LastStatus+tc.RuntimeID+tc.Reason+tc.ImageDigest
	}
	return false
}

// submitContainerStateChange records one container's state.
func (a *API) submitContainerStateChange(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in containerChangeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, invalidParam("task can not be blank.")
	}
	if err := in.containerChangeIn.validate(); err != nil {
		return nil, err
	}
	return a.updateTask(ctx, "SubmitContainerStateChange", in.Cluster, in.Task, func(t *store.Task) bool {
		return applyContainerChange(t, in.containerChangeIn)
	})
}

// updateTask applies change to the task in one transaction and writes it
// (with a new version) when change reports a change. The caller must be
// allowed op on the task's container instance: an agent key reports only
// for the instances it registered.
func (a *API) updateTask(ctx context.Context, op, cluster, ref string, change func(*store.Task) bool) (any, error) {
	principal := principalOf(ctx)
	var t store.Task
	changed, stopped := false, false
	// An agent's report is a small write, and 500 agents send them at once
	// in a rollout: they share transactions (Batch) instead of queueing for
	// the write lock one by one.
	err := a.o.Store.Batch(func(tx store.Tx) error {
		changed, stopped = false, false // the batch may run this again
		c, err := a.activeCluster(tx, cluster)
		if err != nil {
			return err
		}
		var found bool
		t, found, err = a.lookupTask(tx, c.Name, ref)
		if err != nil {
			return err
		}
		if !found {
			return invalidParam("The referenced task was not found: %s.", ref)
		}
		if err := a.authorizeOnInstance(tx, principal, op, c.Name, t.ContainerInstanceARN); err != nil {
			return err
		}
		wasStopped := t.LastStatus == store.TaskStopped
		if !change(&t) {
			return nil
		}
		changed, stopped = true, !wasStopped && t.LastStatus == store.TaskStopped
		t.Version++
		if err := tx.PutTask(t); err != nil {
			return internal("write task", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		a.log.Info("task state changed", logging.KeyTask, t.ARN, logging.KeyStatus, t.LastStatus,
			logging.KeyDesired, t.DesiredStatus, logging.KeyReason, t.StoppedReason)
	}
	if stopped && a.o.OnTaskStopped != nil {
		a.o.OnTaskStopped(t.ARN)
	}
	return map[string]string{"acknowledgment": "ACK"}, nil
}
