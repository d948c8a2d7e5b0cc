// Package delivery sends tasks to their agents over ACS and keeps sending
// them until the agent acknowledges them.
//
// The store is the source of truth: a task needs delivery while the agent
// has not acknowledged its current desired status
// (store.Task.NeedsDelivery). A Deliverer sends such tasks as ACS
// PayloadMessages
//
//   - at once, when a committed store write changes a task's desired status
//     (the store returned by Watch reports task writes after each commit);
//   - to an instance whenever it opens a new ACS session (Connected);
//   - on a timer, for tasks whose last send is at least RedeliverInterval old.
//
// The agent answers a PayloadMessage it handled with AckRequest{messageId};
// Ack then records, in each task's delivery state, the desired status the
// message carried. Nothing but the store survives a restart, so tasks
// undelivered before a restart go out again when their agent connects. The
// agent handles duplicates idempotently, which makes resending safe.
//
// One goroutine (Run) owns the in-memory state; the entry points only queue
// events for it, so none of them blocks an API request or the ACS reader.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// DefaultRedeliverInterval is how long an unacknowledged task waits before
// it is sent again.
const DefaultRedeliverInterval = 10 * time.Second

const (
	eventQueue = 1024
	// maxPendingPerInstance bounds the unacknowledged messages remembered
	// per instance; an ack of a forgotten message is ignored, and its tasks
	// are simply sent again.
	maxPendingPerInstance = 64

	logKeyTaskCount = "tasks"
)

// Sender pushes a message to an instance's ACS session
// (*acsserver.Server implements it).
type Sender interface {
	Send(containerInstanceARN string, msg any) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(containerInstanceARN string, msg any) error

// Send implements Sender.
func (f SenderFunc) Send(containerInstanceARN string, msg any) error {
	return f(containerInstanceARN, msg)
}

// Options configure a Deliverer.
type Options struct {
	// Store is the raw store: Ack writes through it without being watched.
	Store  store.Store
	Sender Sender
	// RedeliverInterval is the resend period; 0 means DefaultRedeliverInterval.
	RedeliverInterval time.Duration
	Logger            *slog.Logger
	Now               func() time.Time // nil means time.Now
	// OnSweep, if set, is called by Run after each periodic resend sweep
	// (tests use it to know that a resend would have happened by now).
	OnSweep func()
	// Roles issues the role credentials that payloads carry; nil issues
	// none (tasks with roles are then not placed: ecsapi.Options.RoleSource).
	Roles *roles.Issuer
}

// Deliverer delivers tasks; see the package comment.
type Deliverer struct {
	o      Options
	log    *slog.Logger
	events chan event

	// unacked mirrors the number of messages in pending, for Unacknowledged.
	unacked atomic.Int64

	// Owned by Run.
	seq     map[string]int        // per instance: last seqNum sent
	pending map[string][]*message // per instance: unacknowledged, oldest first
	sent    map[string]sentState  // per task ARN
	batch   []event               // drain's buffer
}

type sentState struct {
	desired string
	at      time.Time
}

// message is a PayloadMessage sent and not acknowledged yet.
type message struct {
	id    string
	tasks []carried
}

// carried is one task of a message and the desired status it carried.
type carried struct {
	cluster, id, arn, desired string
}

type eventKind int

const (
	evTasks eventKind = iota
	evConnected
	evAck
)

type event struct {
	kind      eventKind
	tasks     []store.Task
	instance  string
	messageID string
}

// New returns a Deliverer; it does nothing until Run.
func New(o Options) *Deliverer {
	if o.RedeliverInterval <= 0 {
		o.RedeliverInterval = DefaultRedeliverInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Deliverer{
		o:       o,
		log:     o.Logger.With(logging.KeyComponent, "delivery"),
		events:  make(chan event, eventQueue),
		seq:     map[string]int{},
		pending: map[string][]*message{},
		sent:    map[string]sentState{},
	}
}

// queue hands ev to Run without blocking. A full queue drops it: the store
// still says what needs delivery, and the next sweep sends it.
func (d *Deliverer) queue(ev event) {
	select {
	case d.events <- ev:
	default:
		d.log.Warn("delivery queue full; the next sweep will catch up", logging.KeyContainerInstance, ev.instance)
	}
}

// TasksWritten offers tasks just committed to the store for delivery.
func (d *Deliverer) TasksWritten(tasks []store.Task) {
	d.queue(event{kind: evTasks, tasks: tasks})
}

// Connected tells that the instance opened a new ACS session: everything
// it has not acknowledged is sent again.
func (d *Deliverer) Connected(containerInstanceARN string) {
	d.queue(event{kind: evConnected, instance: containerInstanceARN})
}

// Ack records the agent's AckRequest for a PayloadMessage.
func (d *Deliverer) Ack(containerInstanceARN, messageID string) {
	d.queue(event{kind: evAck, instance: containerInstanceARN, messageID: messageID})
}

// Unacknowledged counts the PayloadMessages sent and still waiting for the
// agent's ack (at most 64 per instance are remembered). Safe from any goroutine.
func (d *Deliverer) Unacknowledged() int { return int(d.unacked.Load()) }

// countPending refreshes Unacknowledged after pending changed.
func (d *Deliverer) countPending() {
	n := 0
	for _, list := range d.pending {
		n += len(list)
	}
	d.unacked.Store(int64(n))
}

// HandleMessage is an acsserver OnMessage handler: it takes the agent's
// AckRequests and ignores the rest.
func (d *Deliverer) HandleMessage(containerInstanceARN string, msg any) {
	if ack, ok := msg.(*wire.AckRequest); ok {
		d.Ack(containerInstanceARN, ack.MessageID)
	}
}

// Run delivers until ctx ends. It sweeps once at start, which covers tasks
// left undelivered by an earlier run of the control plane.
func (d *Deliverer) Run(ctx context.Context) error {
	ticker := time.NewTicker(d.o.RedeliverInterval)
	defer ticker.Stop()
	d.sweep("")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			d.sweep("")
			if d.o.OnSweep != nil {
				d.o.OnSweep()
			}
		case ev := <-d.events:
			d.handle(d.drain(ev))
		}
	}
}

// maxEventBatch bounds the events Run takes from its queue at once.
const maxEventBatch = 256

// drain returns first and the events queued behind it, up to
// maxEventBatch, without waiting.
func (d *Deliverer) drain(first event) []event {
	d.batch = append(d.batch[:0], first)
	for len(d.batch) < maxEventBatch {
		select {
		case ev := <-d.events:
			d.batch = append(d.batch, ev)
		default:
			return d.batch
		}
	}
	return d.batch
}

// handle processes events in order, recording each run of consecutive
// acks in one write transaction. Why: an ack is a write, and written one
// at a time they waited for the write lock one after the other, behind
// the service rounds and RunTask, while this goroutine, which also sends
// the payloads, did nothing else; a rollout of 1,000 tasks queued 900 of
// them and its payloads waited seconds to go out (docs/benchmarks.md).
func (d *Deliverer) handle(batch []event) {
	for len(batch) > 0 {
		n := 0
		for n < len(batch) && batch[n].kind == evAck {
			n++
		}
		if n > 0 {
			d.ackAll(batch[:n])
			batch = batch[n:]
			continue
		}
		ev := batch[0]
		batch = batch[1:]
		switch ev.kind {
		case evTasks:
			d.written(ev.tasks)
		case evConnected:
			d.log.Info("agent connected; resending unacknowledged tasks", logging.KeyContainerInstance, ev.instance)
			d.sweep(ev.instance)
		}
	}
}

// written sends the tasks whose desired status changed since they were
// last sent.
func (d *Deliverer) written(tasks []store.Task) {
	byInstance := map[string][]store.Task{}
	for _, t := range tasks {
		if t.NeedsDelivery() && d.sent[t.ARN].desired != t.DesiredStatus {
			byInstance[t.ContainerInstanceARN] = append(byInstance[t.ContainerInstanceARN], t)
		}
	}
	for arn, ts := range byInstance {
		d.send(arn, ts)
	}
}

// sweep sends every task needing delivery: of one instance, all of them
// (a new session); of every instance (instance ""), those last sent at
// least an interval ago. It reads the store's index of undelivered tasks,
// so its cost follows the tasks in flight, not the tasks ever run.
func (d *Deliverer) sweep(instance string) {
	var tasks []store.Task
	err := d.o.Store.View(func(tx store.Tx) error {
		undelivered, err := tx.UndeliveredTasks(instance)
		if err != nil {
			return err
		}
		now := d.o.Now()
		if instance == "" {
			// What the index no longer holds was delivered (or deleted):
			// forget it.
			keep := make(map[string]bool, len(undelivered))
			for _, t := range undelivered {
				keep[t.ARN] = true
			}
			for arn := range d.sent {
				if !keep[arn] {
					delete(d.sent, arn)
				}
			}
		}
		for _, t := range undelivered {
			if s, ok := d.sent[t.ARN]; instance == "" && ok && s.desired == t.DesiredStatus && now.Sub(s.at) < d.o.RedeliverInterval {
				continue
			}
			tasks = append(tasks, t)
		}
		return nil
	})
	if err != nil {
		d.log.Error("could not read tasks to deliver", logging.KeyError, err)
		return
	}
	byInstance := map[string][]store.Task{}
	for _, t := range tasks {
		byInstance[t.ContainerInstanceARN] = append(byInstance[t.ContainerInstanceARN], t)
	}
	for arn, ts := range byInstance {
		d.send(arn, ts)
	}
}

// send converts tasks (all of instance) and sends them in one message.
func (d *Deliverer) send(instance string, tasks []store.Task) {
	wireTasks, kept, err := d.convert(tasks)
	if err != nil {
		d.log.Error("could not read task definitions to deliver", logging.KeyContainerInstance, instance, logging.KeyError, err)
		return
	}
	// Outside the read transaction: issuing may call STS.
	wireTasks, kept = d.withCredentials(wireTasks, kept)
	if len(wireTasks) == 0 {
		return
	}
	d.seq[instance]++
	msg := &wire.PayloadMessage{
		ClusterARN:           kept[0].ClusterARN,
		ContainerInstanceARN: instance,
		GeneratedAt:          d.o.Now().Unix(),
		MessageID:            uuid.NewString(),
		SeqNum:               d.seq[instance],
		Tasks:                wireTasks,
	}
	now := d.o.Now()
	for _, t := range kept {
		// Recorded even when the agent is not connected, so that the
		// sweep, not every write, retries.
		d.sent[t.ARN] = sentState{desired: t.DesiredStatus, at: now}
	}
	log := d.log.With(logging.KeyContainerInstance, instance, logging.KeyMessageID, msg.MessageID,
		logging.KeySeqNum, msg.SeqNum, logKeyTaskCount, len(wireTasks))
	if err := d.o.Sender.Send(instance, msg); err != nil {
		log.Debug("payload not sent; will retry", logging.KeyError, err)
		return
	}
	m := &message{id: msg.MessageID}
	for _, t := range kept {
		m.tasks = append(m.tasks, carried{cluster: t.Cluster, id: t.ID, arn: t.ARN, desired: t.DesiredStatus})
		log.Info("task sent to agent", logging.KeyTask, t.ARN, logging.KeyDesired, t.DesiredStatus)
	}
	list := append(d.pending[instance], m)
	if len(list) > maxPendingPerInstance {
		list = list[len(list)-maxPendingPerInstance:]
	}
	d.pending[instance] = list
	d.countPending()
}

// convert builds the wire tasks from each task's definition. A task whose
// definition cannot be converted is logged and left out: sending it again
// would not help.
func (d *Deliverer) convert(tasks []store.Task) ([]wire.Task, []store.Task, error) {
	var out []wire.Task
	var kept []store.Task
	err := d.o.Store.View(func(tx store.Tx) error {
		for _, t := range tasks {
			def, err := tx.TaskDefinition(t.Family, t.Revision)
			if errors.Is(err, store.ErrNotFound) {
				d.log.Error("task definition of a task is gone; not delivering it", logging.KeyTask, t.ARN)
				continue
			}
			if err != nil {
				return fmt.Errorf("read task definition %s:%d: %w", t.Family, t.Revision, err)
			}
			wt, err := payload.Task(def, payload.TaskInput{
				ARN: t.ARN, ClusterARN: t.ClusterARN, DesiredStatus: t.DesiredStatus,
				Group: t.Group, StartedBy: t.StartedBy, Overrides: t.Overrides,
			})
			if err != nil {
				d.log.Error("task cannot be converted for the agent; not delivering it", logging.KeyTask, t.ARN, logging.KeyError, err)
				continue
			}
			out = append(out, *wt)
			kept = append(kept, t)
		}
		return nil
	})
	return out, kept, err
}

// ackAll records the desired statuses the acknowledged messages carried,
// in one transaction, in the order the acks came.
func (d *Deliverer) ackAll(acks []event) {
	type acked struct {
		instance, messageID string
		m                   *message
	}
	var known []acked
	for _, ev := range acks {
		list := d.pending[ev.instance]
		i := slices.IndexFunc(list, func(x *message) bool { return x.id == ev.messageID })
		if i < 0 {
			d.log.Debug("ack of an unknown or forgotten payload", logging.KeyContainerInstance, ev.instance, logging.KeyMessageID, ev.messageID)
			continue
		}
		known = append(known, acked{ev.instance, ev.messageID, list[i]})
		d.pending[ev.instance] = append(list[:i:i], list[i+1:]...)
	}
	if len(known) == 0 {
		return
	}
	d.countPending()
	now := d.o.Now().UTC()
	err := d.o.Store.Update(func(tx store.Tx) error {
		for _, a := range known {
			for _, c := range a.m.tasks {
				t, err := tx.Task(c.cluster, c.id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				// Never step back: an ack of RUNNING after one of STOPPED.
				if store.TaskStatusRank(t.Delivery.AckedDesiredStatus) >= store.TaskStatusRank(c.desired) {
					continue
				}
				t.Delivery = store.TaskDelivery{MessageID: a.messageID, AckedDesiredStatus: c.desired, AckedAt: &now}
				if err := tx.PutTask(t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, a := range known {
		log := d.log.With(logging.KeyContainerInstance, a.instance, logging.KeyMessageID, a.messageID)
		if err != nil {
			log.Error("could not record the agent's ack", logging.KeyError, err)
			continue
		}
		for _, c := range a.m.tasks {
			log.Info("agent acknowledged task", logging.KeyTask, c.arn, logging.KeyDesired, c.desired)
		}
	}
}
