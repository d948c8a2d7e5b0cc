package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// DefaultRefreshInterval is how often the Refresher looks for role
// credentials that are due, and resends those not acknowledged.
const DefaultRefreshInterval = 10 * time.Second

// RefresherOptions configure a Refresher.
type RefresherOptions struct {
	Store    store.Store
	Sender   Sender
	Roles    *roles.Issuer
	Interval time.Duration // 0 means DefaultRefreshInterval
	Logger   *slog.Logger
	Now      func() time.Time // nil means time.Now
}

// Refresher keeps the agents' role credentials fresh (reference §5.4): for
// every task an agent runs, it issues new credentials once the old ones are
// past half their lifetime and pushes them in an IAMRoleCredentialsMessage,
// again every interval until the agent acknowledges it with an
// IAMRoleCredentialsAckRequest. An agent that connects with
// sendCredentials=true (it restarted and lost them, as they live in its
// memory only) gets the credentials of all its tasks at once.
//
// Its work comes from the store (the tasks and their credentials IDs); the
// keys and the unacknowledged pushes are in memory, and a restarted control
// plane issues and pushes every task's credentials again. One goroutine
// (Run) owns the pending pushes.
type Refresher struct {
	o      RefresherOptions
	log    *slog.Logger
	events chan refreshEvent

	pending map[string]pushed // by credentials ID; owned by Run
}

// pushed is an IAMRoleCredentialsMessage not acknowledged yet.
type pushed struct {
	messageID string
	at        time.Time
	instance  string
	msg       *wire.IAMRoleCredentialsMessage
}

type refreshEvent struct {
	instance  string
	ack       *wire.IAMRoleCredentialsAckRequest // nil: the agent asked for every credential
	wantsEach bool
}

// NewRefresher returns a Refresher; it does nothing until Run.
func NewRefresher(o RefresherOptions) *Refresher {
	if o.Interval <= 0 {
		o.Interval = DefaultRefreshInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Refresher{o: o, log: o.Logger.With(logging.KeyComponent, "credentials"),
		events: make(chan refreshEvent, eventQueue), pending: map[string]pushed{}}
}

func (r *Refresher) queue(ev refreshEvent) {
	select {
	case r.events <- ev:
	default:
		r.log.Warn("credentials event queue full; the next sweep will catch up", logging.KeyContainerInstance, ev.instance)
	}
}

// HandleMessage is an acsserver OnMessage handler: it takes the agent's
// IAMRoleCredentialsAckRequests and ignores the rest.
func (r *Refresher) HandleMessage(instance string, msg any) {
	if ack, ok := msg.(*wire.IAMRoleCredentialsAckRequest); ok {
		r.queue(refreshEvent{instance: instance, ack: ack})
	}
}

// SendCredentials tells that the instance connected with
// sendCredentials=true: it gets the credentials of every task it runs.
func (r *Refresher) SendCredentials(instance string) {
	r.queue(refreshEvent{instance: instance, wantsEach: true})
}

// Run refreshes until ctx ends.
func (r *Refresher) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.sweep(ctx, "")
		case ev := <-r.events:
			switch {
			case ev.ack != nil:
				r.acked(ev.instance, ev.ack)
			case ev.wantsEach:
				r.log.Info("agent asked for its tasks' credentials", logging.KeyContainerInstance, ev.instance)
				r.sweep(ctx, ev.instance)
			}
		}
	}
}

func (r *Refresher) acked(instance string, ack *wire.IAMRoleCredentialsAckRequest) {
	p, ok := r.pending[ack.CredentialsID]
	if !ok || p.messageID != ack.MessageID || p.instance != instance {
		return // an older push, or one this process did not send
	}
	delete(r.pending, ack.CredentialsID)
	r.log.Info("agent acknowledged role credentials", logging.KeyContainerInstance, instance,
		logging.KeyTask, p.msg.TaskARN, logging.KeyRoleType, p.msg.RoleType, logging.KeyExpiration, ack.Expiration)
}

// sweep pushes the credentials that are due, and resends the pushes not
// acknowledged for an interval. With an instance, it pushes every
// credential of that instance's tasks (the agent asked for them).
func (r *Refresher) sweep(ctx context.Context, instance string) {
	tasks, live, err := r.running()
	if err != nil {
		r.log.Error("could not read the tasks whose credentials to refresh", logging.KeyError, err)
		return
	}
	r.o.Roles.Prune(func(id string) bool { return live[id] })
	for id := range r.pending {
		if !live[id] {
			delete(r.pending, id)
		}
	}
	now := r.o.Now()
	for _, t := range tasks {
		if instance != "" && t.ContainerInstanceARN != instance {
			continue
		}
		for _, ref := range t.RoleCredentials {
			p, waiting := r.pending[ref.ID]
			due := r.o.Roles.Due(ref.ID)
			switch {
			case due:
				r.push(ctx, t, ref, true)
			case instance != "":
				r.push(ctx, t, ref, false)
			case waiting && now.Sub(p.at) >= r.o.Interval:
				r.send(p.instance, p.msg, ref.ID) // the same credentials again
			}
		}
	}
}

// running lists the tasks an agent runs with role credentials, and the
// credentials IDs of every task that has not stopped (whose cached keys
// must be kept).
func (r *Refresher) running() ([]store.Task, map[string]bool, error) {
	var out []store.Task
	live := map[string]bool{}
	err := r.o.Store.View(func(tx store.Tx) error {
		// The live-task index: the cost follows the tasks that run, not
		// the stopped ones kept for DescribeTasks.
		clusters, err := tx.Clusters()
		if err != nil {
			return err
		}
		var all []store.Task
		for _, c := range clusters {
			live, err := tx.LiveTasks(c.Name, "")
			if err != nil {
				return err
			}
			all = append(all, live...)
		}
		for _, t := range all {
			if len(t.RoleCredentials) == 0 || t.LastStatus == store.TaskStopped {
				continue
			}
			for _, ref := range t.RoleCredentials {
				live[ref.ID] = true
			}
			// The agent has the task once it acknowledged RUNNING; before
			// that, the payload brings the credentials.
			if t.DesiredStatus == store.TaskRunning && t.Delivery.AckedDesiredStatus == store.TaskRunning {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, live, err
}

// push sends the task's credentials of ref, issuing new ones when fresh.
func (r *Refresher) push(ctx context.Context, t store.Task, ref store.TaskRoleCredentials, fresh bool) {
	log := r.log.With(logging.KeyTask, t.ARN, logging.KeyRoleType, ref.Type, logging.KeyRoleARN, ref.RoleARN)
	ictx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	var c roles.Credentials
	var err error
	if fresh {
		c, err = r.o.Roles.Refresh(ictx, ref.ID, ref.RoleARN, sessionName(t))
	} else {
		c, err = r.o.Roles.Get(ictx, ref.ID, ref.RoleARN, sessionName(t))
	}
	if err != nil {
		log.Warn("could not issue role credentials; will retry", logging.KeyError, err)
		return
	}
	msg := &wire.IAMRoleCredentialsMessage{
		MessageID:       uuid.NewString(),
		TaskARN:         t.ARN,
		TaskClusterARN:  t.ClusterARN,
		RoleType:        wire.RoleType(ref.Type),
		RoleCredentials: wireCredentials(ref, c),
	}
	if fresh {
		log.Info("role credentials refreshed", logging.KeyExpiration, msg.RoleCredentials.Expiration)
	}
	r.send(t.ContainerInstanceARN, msg, ref.ID)
}

func (r *Refresher) send(instance string, msg *wire.IAMRoleCredentialsMessage, id string) {
	r.pending[id] = pushed{messageID: msg.MessageID, at: r.o.Now(), instance: instance, msg: msg}
	if err := r.o.Sender.Send(instance, msg); err != nil {
		r.log.Debug("credentials not sent; will retry", logging.KeyContainerInstance, instance, logging.KeyError, err)
	}
}
