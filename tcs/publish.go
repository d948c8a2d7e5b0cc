package tcs

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// MetricsSource supplies the task metrics of one publish: stats sets over
// the samples not sent before (agent/stats's Collector).
type MetricsSource interface {
	TaskMetrics() []wire.TaskMetric
}

// publisher sends one connection's publish rounds.
type publisher struct {
	s      *Session
	c      *wsconn.Conn
	signer wire.Signer
}

// round publishes metrics (unless disabled), health and instance status.
// A failure is logged; the next round tries again, and a connection that
// broke ends through its reader.
func (p *publisher) round(ctx context.Context) {
	s := p.s
	ts := wire.At(s.now())
	if s.o.Metrics != nil {
		meta := wire.MetricsMetadata{Cluster: s.o.Cluster, ContainerInstance: s.o.ContainerInstanceARN, MessageID: s.newMessage()}
		reqs, errs := metricsRequests(meta, s.o.Metrics.TaskMetrics(), ts)
		p.report(errs)
		for _, r := range reqs {
			if !p.send(ctx, r) {
				return
			}
		}
	}
	if s.o.Tasks != nil {
		meta := wire.HealthMetadata{Cluster: s.o.Cluster, ContainerInstance: s.o.ContainerInstanceARN, MessageID: s.newMessage()}
		reqs, errs := healthRequests(meta, s.health.tasks(s.o.Tasks.Snapshot(), s.o.Cluster, s.now()), ts)
		p.report(errs)
		for _, r := range reqs {
			if !p.send(ctx, r) {
				return
			}
		}
	}
	if statuses := s.statuses.check(ctx, s.now()); len(statuses) > 0 {
		p.send(ctx, &wire.PublishInstanceStatusRequest{
			Metadata:  &wire.InstanceStatusMetadata{Cluster: s.o.Cluster, ContainerInstance: s.o.ContainerInstanceARN, RequestID: s.newMessage()},
			Statuses:  statuses,
			Timestamp: ts,
		})
	}
}

// send signs and queues one message; false means the connection is gone.
func (p *publisher) send(ctx context.Context, msg wire.Message) bool {
	frame, err := p.signer.EncodeFrame(ctx, msg, p.s.now())
	if err == nil {
		err = p.c.Send(ctx, frame)
	}
	if err != nil {
		p.s.log.Warn("could not publish to TCS", logging.KeyMessageType, msg.ShapeName(), logging.KeyError, err)
		return !errors.Is(err, wsconn.ErrClosed) && ctx.Err() == nil
	}
	return true
}

func (p *publisher) report(errs []error) {
	for _, err := range errs {
		p.s.log.Error("telemetry left out of TCS", logging.KeyError, err)
	}
}

// newID returns a message or request ID.
func newID() string { return uuid.NewString() }
