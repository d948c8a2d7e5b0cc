package acs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

const (
	// outQueue bounds frames waiting for the writer.
	outQueue = 16
	// closeGrace is how long a close frame waits for the peer's echo before
	// the connection is dropped.
	closeGrace = 5 * time.Second
	// controlWriteTimeout bounds writing a close frame.
	controlWriteTimeout = 5 * time.Second
)

// conn is one live websocket: a reader goroutine feeding in, a writer
// goroutine draining out. The session goroutine owns everything else.
type conn struct {
	ws        wsConn
	rwTimeout time.Duration

	in      chan []byte
	readErr chan error // buffered 1: the reader's final error
	out     chan []byte
	stop    chan struct{} // closed at teardown
	wdone   chan struct{} // closed when the writer gave up or stopped
	wg      sync.WaitGroup
}

func newConn(ws wsConn, rwTimeout time.Duration) *conn {
	c := &conn{
		ws:        ws,
		rwTimeout: rwTimeout,
		in:        make(chan []byte),
		readErr:   make(chan error, 1),
		out:       make(chan []byte, outQueue),
		stop:      make(chan struct{}),
		wdone:     make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.rwTimeout))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr <- err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		select {
		case c.in <- data:
		case <-c.stop:
			return
		}
	}
}

// writeLoop is the only writer of data frames.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.wdone)
	for {
		select {
		case <-c.stop:
			return
		case frame := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.rwTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				// Closing makes the reader fail, which ends the session's connection.
				_ = c.ws.Close()
				return
			}
		}
	}
}

func (c *conn) send(ctx context.Context, frame []byte) error {
	select {
	case c.out <- frame:
		return nil
	case <-c.stop:
		return ErrNotConnected
	case <-c.wdone: // nobody will drain the queue; do not wait for teardown
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeGracefully sends a close frame and waits a little for the peer to
// answer, so that the server sees a clean close rather than a dropped socket.
// It returns the reader's final error, or nil if the peer did not answer.
func (c *conn) closeGracefully(code int, reason string) error {
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWriteTimeout)); err != nil {
		return err
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	for {
		select {
		case err := <-c.readErr:
			return err
		case <-c.in: // frames still in flight are dropped; the peer resends unacked work
		case <-t.C:
			return nil
		}
	}
}

// teardown stops both goroutines and closes the socket.
func (c *conn) teardown() {
	close(c.stop)
	_ = c.ws.Close()
	c.wg.Wait()
}

// serve runs one connection until it ends and returns why.
func (s *Session) serve(ctx context.Context, ws wsConn) error {
	c := newConn(ws, 2*s.o.HeartbeatTimeout+s.o.HeartbeatJitter)
	s.setCurrent(c)
	defer func() {
		s.setCurrent(nil)
		c.teardown()
	}()

	idle := time.NewTimer(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
	defer idle.Stop()
	lifetime := time.NewTimer(backoff.Jittered(s.o.MaxLifetime, s.o.MaxLifetimeJitter))
	defer lifetime.Stop()

	for {
		select {
		case <-ctx.Done():
			_ = c.closeGracefully(websocket.CloseNormalClosure, "agent shutting down")
			return ctx.Err()
		case <-idle.C:
			s.log.Warn("ACS connection has had no activity for too long; closing")
			_ = c.closeGracefully(websocket.CloseNormalClosure, "no activity")
			return errIdleTimeout
		case <-lifetime.C:
			s.log.Info("ACS connection reached its maximum lifetime; reconnecting")
			if err := c.closeGracefully(websocket.CloseNormalClosure, ConnectionExpiredReason); err != nil && !permissible(err) {
				return fmt.Errorf("close expired connection: %w", err)
			}
			return nil
		case err := <-c.readErr:
			if errors.Is(err, websocket.ErrReadLimit) {
				// The reader has already answered with close code 1009.
				s.log.Error("ACS sent a frame larger than the agent accepts; closing the connection",
					logging.KeyLimit, MaxFrameBytes, logging.KeyError, err)
				return fmt.Errorf("read ACS: frame over the %d-byte limit: %w", MaxFrameBytes, err)
			}
			return fmt.Errorf("read ACS: %w", err)
		case frame := <-c.in:
			idle.Reset(backoff.Jittered(s.o.HeartbeatTimeout, s.o.HeartbeatJitter))
			s.handle(ctx, c, frame)
		}
	}
}

// handle decodes one inbound frame, answers heartbeats and passes the rest on.
func (s *Session) handle(ctx context.Context, c *conn, frame []byte) {
	msg, err := wire.Decode(frame)
	if err != nil {
		// Unknown types are expected as ACS grows; drop them.
		s.log.Warn("dropping undecodable ACS message", logging.KeyError, err)
		return
	}
	if hb, ok := msg.(*wire.HeartbeatMessage); ok {
		ack, err := wire.Encode(wire.HeartbeatAckRequest{MessageID: hb.MessageID})
		if err == nil {
			err = c.send(ctx, ack)
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
