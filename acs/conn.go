package acs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

// outQueue bounds frames waiting for the writer.
const outQueue = 16

// serve runs one connection until it ends and returns why.
func (s *Session) serve(ctx context.Context, ws wsconn.Socket) error {
	c := wsconn.New(ws, 2*s.o.HeartbeatTimeout+s.o.HeartbeatJitter, outQueue)
	s.setCurrent(c)
	defer func() {
		s.setCurrent(nil)
		c.Teardown()
	}()

	idle := time.NewTimer(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
	defer idle.Stop()
	lifetime := time.NewTimer(backoff.Jittered(s.o.MaxLifetime, s.o.MaxLifetimeJitter))
	defer lifetime.Stop()

	for {
		select {
		case <-ctx.Done():
			_ = c.CloseGracefully(websocket.CloseNormalClosure, "agent shutting down")
			return ctx.Err()
		case <-idle.C:
			s.log.Warn("ACS connection has had no activity for too long; closing")
			_ = c.CloseGracefully(websocket.CloseNormalClosure, "no activity")
			return errIdleTimeout
		case <-lifetime.C:
			s.log.Info("ACS connection reached its maximum lifetime; reconnecting")
			if err := c.CloseGracefully(websocket.CloseNormalClosure, ConnectionExpiredReason); err != nil && !permissible(err) {
				return fmt.Errorf("close expired connection: %w", err)
			}
			return nil
		case err := <-c.ReadErr():
			if errors.Is(err, websocket.ErrReadLimit) {
				// The reader has already answered with close code 1009.
				s.log.Error("ACS sent a frame larger than the agent accepts; closing the connection",
					logging.KeyLimit, MaxFrameBytes, logging.KeyError, err)
				return fmt.Errorf("read ACS: frame over the %d-byte limit: %w", MaxFrameBytes, err)
			}
			return fmt.Errorf("read ACS: %w", err)
		case frame := <-c.In():
			idle.Reset(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
			s.handle(ctx, c, frame)
		}
	}
}

// sendOn queues frame on c; a connection that is going away is ErrNotConnected.
func sendOn(ctx context.Context, c *wsconn.Conn, frame []byte) error {
	if err := c.Send(ctx, frame); err != nil {
		if errors.Is(err, wsconn.ErrClosed) {
			return ErrNotConnected
		}
		return err
	}
	return nil
}

// handle decodes one inbound frame, answers heartbeats and passes the rest on.
func (s *Session) handle(ctx context.Context, c *wsconn.Conn, frame []byte) {
	msg, err := wire.Decode(frame)
	if err != nil {
		// Unknown types are expected as ACS grows; drop them.
		s.log.Warn("dropping undecodable ACS message", logging.KeyError, err)
		return
	}
	if hb, ok := msg.(*wire.HeartbeatMessage); ok {
		ack, err := wire.Encode(wire.HeartbeatAckRequest{MessageID: hb.MessageID})
		if err == nil {
			err = sendOn(ctx, c, ack)
		}
		if err != nil {
			s.log.Warn("could not acknowledge ACS heartbeat", logging.KeyMessageID, hb.MessageID, logging.KeyError, err)
		}
		return
	}
	if s.o.Handler != nil {
		s.o.Handler(ctx, msg)
		return
	}
	switch m := msg.(type) {
	case *wire.PayloadMessage:
		s.log.Info("received ACS payload; no handler, not acknowledging",
			logging.KeyMessageID, m.MessageID, logging.KeySeqNum, m.SeqNum, logging.KeyCount, len(m.Tasks))
	case wire.Exception:
		s.log.Warn("ACS sent an error", logging.KeyError, error(m))
	case *wire.ErrorMessage:
		s.log.Warn("ACS sent an error", logging.KeyError, errors.New(m.Message))
	default:
		s.log.Info("received ACS message", logging.KeyMessageType, msg.(wire.Message).ShapeName())
	}
}
