package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// issueTimeout bounds the issuing of one task's credentials while a payload
// is being sent.
const issueTimeout = 30 * time.Second

// reasonNoCredentials starts the stop reason of a task whose role
// credentials could not be issued.
const reasonNoCredentials = "ResourceInitializationError: unable to get the credentials of the task's role"

// wireCredentials is how role credentials travel in ACS messages.
func wireCredentials(ref store.TaskRoleCredentials, c roles.Credentials) *wire.IAMRoleCredentials {
	return &wire.IAMRoleCredentials{
		CredentialsID:   ref.ID,
		RoleARN:         ref.RoleARN,
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Expiration:      c.Expiration.UTC().Format(time.RFC3339),
	}
}

// sessionName is the STS session of a task's credentials: the task ID, as
// ECS names them, so CloudTrail tells which task used them.
func sessionName(t store.Task) string { return t.ID }

// withCredentials adds the role credentials of the tasks that will run to
// their payload. A task whose credentials cannot be issued is left out: if
// the agent never had it, it is stopped with the reason, since it cannot
// run as asked; otherwise the next sweep tries again.
func (d *Deliverer) withCredentials(wireTasks []wire.Task, kept []store.Task) ([]wire.Task, []store.Task) {
	var outWire []wire.Task
	var outKept []store.Task
	for i, t := range kept {
		if t.DesiredStatus != store.TaskRunning || len(t.RoleCredentials) == 0 {
			outWire, outKept = append(outWire, wireTasks[i]), append(outKept, t)
			continue
		}
		wt := wireTasks[i]
		if err := d.issue(&wt, t); err != nil {
			d.noCredentials(t, err)
			continue
		}
		outWire, outKept = append(outWire, wt), append(outKept, t)
	}
	return outWire, outKept
}

// issue puts the task's role credentials into wt.
func (d *Deliverer) issue(wt *wire.Task, t store.Task) error {
	if d.o.Roles == nil {
		return errors.New("this control plane issues no role credentials: start it with -sts-endpoint URL or -roles FILE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), issueTimeout)
	defer cancel()
	for _, ref := range t.RoleCredentials {
		c, err := d.o.Roles.Get(ctx, ref.ID, ref.RoleARN, sessionName(t))
		if err != nil {
			return fmt.Errorf("%s %s: %w", ref.Type, ref.RoleARN, err)
		}
		switch ref.Type {
		case store.RoleTypeTask:
			wt.RoleCredentials = wireCredentials(ref, c)
		case store.RoleTypeExecution:
			wt.ExecutionRoleCredentials = wireCredentials(ref, c)
		default:
			return fmt.Errorf("unknown role type %q of credentials %s", ref.Type, ref.ID)
		}
	}
	return nil
}

// noCredentials handles a task whose credentials could not be issued.
func (d *Deliverer) noCredentials(t store.Task, cause error) {
	log := d.log.With(logging.KeyTask, t.ARN, logging.KeyContainerInstance, t.ContainerInstanceARN)
	if t.Delivery.AckedDesiredStatus != "" {
		// The agent runs it with credentials it got before; a refresh
		// will bring new ones.
		log.Warn("could not issue the task's role credentials; will retry", logging.KeyError, cause)
		return
	}
	reason := reasonNoCredentials + ": " + cause.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	now := d.o.Now().UTC()
	err := d.o.Store.Update(func(tx store.Tx) error {
		cur, err := tx.Task(t.Cluster, t.ID)
		if err != nil {
			return err
		}
		if cur.LastStatus == store.TaskStopped || cur.Delivery.AckedDesiredStatus != "" {
			return nil
		}
		cur.LastStatus, cur.DesiredStatus = store.TaskStopped, store.TaskStopped
		cur.StopCode, cur.StoppedReason = store.StopCodeTaskFailedToStart, reason
		cur.StoppingAt, cur.StoppedAt, cur.ExecutionStoppedAt = &now, &now, &now
		for i := range cur.Containers {
			cur.Containers[i].LastStatus = store.TaskStopped
		}
		cur.Version++
		return tx.PutTask(cur)
	})
	if err != nil {
		log.Error("could not stop a task whose role credentials cannot be issued", logging.KeyError, err)
		return
	}
	log.Warn("task stopped: its role credentials cannot be issued", logging.KeyReason, reason)
}

// maxReason bounds a stoppedReason written here.
const maxReason = 1024
