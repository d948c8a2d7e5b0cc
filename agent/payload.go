package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// desiredStopped is the ACS desiredStatus of a task being stopped.
const desiredStopped = "STOPPED"

// maxQueuedPayloads bounds the payloads waiting for the engine. ACS
// redelivers what is not acknowledged, so when the engine is stuck the
// newest are dropped rather than held in memory without limit.
const maxQueuedPayloads = 256

// taskAdder is what payload handling needs from the task engine: AddTask
// returns once the task (or its new desired status) is persisted, and is
// idempotent for a task it already knows, so a redelivered payload is
// harmless.
type taskAdder interface {
	AddTask(ctx context.Context, t *wire.Task) error
}

// credentialSetter keeps the credentials ACS sends (agent/credentials).
type credentialSetter interface {
	Set(c credentials.Credentials) error
}

// acsSender sends a reply on the ACS session (acs.Session.Send).
type acsSender interface {
	Send(ctx context.Context, msg any) error
}

var errInvalidPayload = errors.New("invalid PayloadMessage")

// acsHandler handles the ACS messages the session does not answer itself
// (reference §5.4). Payloads are queued and handed to the engine by Run's
// goroutine, in arrival order, so the session goroutine never waits on a
// disk write and heartbeats keep flowing.
type acsHandler struct {
	engine taskAdder
	send   acsSender
	creds  credentialSetter
	log    *slog.Logger

	mu      sync.Mutex
	queue   []*wire.PayloadMessage
	pending chan struct{} // buffer 1: the queue is not empty
}

func newACSHandler(engine taskAdder, send acsSender, log *slog.Logger) *acsHandler {
	return &acsHandler{engine: engine, send: send, creds: credentials.New(nil),
		log: log.With(logging.KeyComponent, "payload"), pending: make(chan struct{}, 1)}
}

// Handle is the acs.Options.Handler. It runs on the session goroutine and
// returns at once.
func (h *acsHandler) Handle(ctx context.Context, msg any) {
	switch m := msg.(type) {
	case *wire.PayloadMessage:
		if err := validatePayload(m); err != nil {
			// No ack: the message is useless, and a correct redelivery may follow.
			h.log.Warn("dropping ACS payload", logging.KeyMessageID, m.MessageID, logging.KeyError, err)
			return
		}
		h.enqueue(m)
	case *wire.TaskManifestMessage:
		// Stop-candidate reconciliation is not implemented; acknowledge so
		// ACS does not resend it.
		h.reply(ctx, m.MessageID, wire.AckRequest{Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID})
	case *wire.IAMRoleCredentialsMessage:
		h.refreshCredentials(ctx, m)
	case wire.Exception:
		h.log.Warn("ACS sent an error", logging.KeyError, error(m))
	case *wire.ErrorMessage:
		h.log.Warn("ACS sent an error", logging.KeyError, errors.New(m.Message))
	case wire.Message:
		h.log.Info("ignoring ACS message", logging.KeyMessageType, m.ShapeName())
	default:
		h.log.Info("ignoring ACS message", logging.KeyMessageType, fmt.Sprintf("%T", msg))
	}
}

func (h *acsHandler) reply(ctx context.Context, messageID string, msg any) {
	if err := h.send.Send(ctx, msg); err != nil {
		h.log.Warn("could not acknowledge ACS message; it will be redelivered",
			logging.KeyMessageID, messageID, logging.KeyError, err)
	}
}

func validatePayload(m *wire.PayloadMessage) error {
	for _, f := range []struct{ name, value string }{
		{"messageId", m.MessageID}, {"clusterArn", m.ClusterARN}, {"containerInstanceArn", m.ContainerInstanceARN},
	} {
		if f.value == "" {
			return fmt.Errorf("%w: %s is empty", errInvalidPayload, f.name)
		}
	}
	return nil
}

func (h *acsHandler) enqueue(m *wire.PayloadMessage) {
	h.mu.Lock()
	full := len(h.queue) >= maxQueuedPayloads
	if !full {
		h.queue = append(h.queue, m)
	}
	h.mu.Unlock()
	if full {
		h.log.Warn("too many ACS payloads waiting for the task engine; dropping this one (ACS will redeliver it)",
			logging.KeyMessageID, m.MessageID, logging.KeyCount, maxQueuedPayloads)
		return
	}
	select {
	case h.pending <- struct{}{}:
	default:
	}
}

func (h *acsHandler) next() *wire.PayloadMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queue) == 0 {
		return nil
	}
	m := h.queue[0]
	h.queue[0] = nil
	h.queue = h.queue[1:]
	return m
}

// Run hands queued payloads to the engine until ctx ends. Payloads still
// queued then are not acknowledged, so ACS delivers them again.
func (h *acsHandler) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.pending:
		}
		for m := h.next(); m != nil && ctx.Err() == nil; m = h.next() {
			h.handlePayload(ctx, m)
		}
	}
}

// handlePayload adds the tasks, stops first ("stop transitions first", so
// a replacement task finds its predecessor's resources freed), and
// acknowledges only if every task was persisted (DESIGN invariant 3). An
// invalid task is persisted as STOPPED by the engine, which reports why;
// one without an ARN is only logged.
func (h *acsHandler) handlePayload(ctx context.Context, m *wire.PayloadMessage) {
	log := h.log.With(logging.KeyMessageID, m.MessageID)
	tasks := make([]*wire.Task, len(m.Tasks))
	for i := range m.Tasks {
		tasks[i] = &m.Tasks[i]
	}
	slices.SortStableFunc(tasks, func(a, b *wire.Task) int {
		return boolRank(a.DesiredStatus != desiredStopped) - boolRank(b.DesiredStatus != desiredStopped)
	})
	failed := 0
	var acks []wire.IAMRoleCredentialsAckRequest
	for _, t := range tasks {
		if t.ARN == "" {
			// Without an ARN the task can be neither run nor reported;
			// redelivering it would not help, so it is acknowledged with
			// the rest of the payload.
			log.Warn("refusing a task without an arn; it cannot be reported to the backend",
				logging.KeyTaskFamily, t.Family, logging.KeyDesired, t.DesiredStatus)
			continue
		}
		// The credentials first: the engine may start the task's
		// containers at once, and they may ask for them.
		acks = append(acks, h.storeTaskCredentials(log, m.MessageID, t)...)
		if err := h.engine.AddTask(ctx, t); err != nil {
			failed++
			log.Error("could not accept task; not acknowledging the payload", logging.KeyTask, t.ARN,
				logging.KeyDesired, t.DesiredStatus, logging.KeyError, err)
		}
	}
	if failed > 0 {
		return
	}
	log.Info("accepted ACS payload", logging.KeySeqNum, m.SeqNum, logging.KeyCount, len(tasks))
	h.reply(ctx, m.MessageID, wire.AckRequest{Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID})
	for _, ack := range acks {
		h.reply(ctx, m.MessageID, ack)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
