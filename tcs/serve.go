package tcs

import (
	"context"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// outQueue bounds frames waiting for the writer: one publish round of 100
// tasks is 10 metrics, 10 health and one status frame.
const outQueue = 32

// serve runs one connection until it ends and returns why.
func (s *Session) serve(ctx context.Context, ws wsconn.Socket, signer wire.Signer) error {
	c := wsconn.New(ws, 2*s.o.HeartbeatTimeout+s.o.HeartbeatJitter, outQueue)
	defer c.Teardown()

	idle := time.NewTimer(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
	defer idle.Stop()
	lifetime := time.NewTimer(backoff.Jittered(s.o.MaxLifetime, s.o.MaxLifetimeJitter))
	defer lifetime.Stop()
	publish := time.NewTicker(s.o.PublishInterval)
	defer publish.Stop()

	p := publisher{s: s, c: c, signer: signer}
	p.round(ctx) // once at start
	for {
		select {
		case <-ctx.Done():
			_ = c.CloseGracefully(websocket.CloseNormalClosure, "agent shutting down")
			return ctx.Err()
		case <-s.dereg:
			_ = c.CloseGracefully(websocket.CloseNormalClosure, "container instance deregistered")
			return errDeregistered
		case <-idle.C:
			s.log.Warn("TCS connection has had no heartbeat or ack for too long; closing")
			_ = c.CloseGracefully(websocket.CloseNormalClosure, "no activity")
			return errIdleTimeout
		case <-lifetime.C:
			s.log.Info("TCS connection reached its maximum lifetime; reconnecting")
			_ = c.CloseGracefully(websocket.CloseNormalClosure, ConnectionExpiredReason)
			return nil
		case err := <-c.ReadErr():
			return fmt.Errorf("read TCS: %w", err)
		case <-publish.C:
			p.round(ctx)
		case frame := <-c.In():
			switch s.handle(frame) {
			case alive:
				idle.Reset(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
			case stopSession:
				_ = c.CloseGracefully(websocket.CloseNormalClosure, "telemetry session stopped")
				return errStopped
			}
		}
	}
}

// inbound is what an inbound frame means for the connection.
type inbound int

const (
	ignored     inbound = iota
	alive               // a heartbeat or an ack: the server is there
	stopSession         // StopTelemetrySessionMessage
)

// handle decodes one inbound frame.
func (s *Session) handle(frame []byte) inbound {
	msg, err := wire.Decode(frame)
	if err != nil {
		s.log.Warn("dropping undecodable TCS message", logging.KeyError, err)
		return ignored
	}
	switch m := msg.(type) {
	case *wire.HeartbeatMessage, *wire.AckPublishMetric, *wire.AckPublishHealth, *wire.AckPublishInstanceStatus:
		return alive
	case *wire.StopTelemetrySessionMessage:
		s.log.Info("TCS stopped the telemetry session", logging.KeyReason, m.Message)
		return stopSession
	case wire.Exception:
		s.log.Warn("TCS refused a message", logging.KeyError, error(m))
	default:
		s.log.Info("unexpected TCS message", logging.KeyMessageType, msg.(wire.Message).ShapeName())
	}
	return ignored
}
