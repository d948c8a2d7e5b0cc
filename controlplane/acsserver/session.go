package acsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

const (
	outQueue = 64
	// writeTimeout bounds every frame write, so a stuck agent cannot wedge
	// the connection's goroutine.
	writeTimeout = 10 * time.Second
	// closeGrace is how long a close frame waits for the agent's echo.
	closeGrace = 5 * time.Second
	// connectionExpiredReason is the text of the CloseMessage and close frame
	// at max lifetime; the agent's own expiry uses the same words.
	connectionExpiredReason = "ConnectionExpired: Reconnect to continue"
)

type closeRequest struct {
	code   int
	reason string
}

// session is one agent connection. Its run loop (the HTTP request's
// goroutine) is the only writer; readLoop is the only reader.
type session struct {
	srv *Server
	ws  *websocket.Conn
	arn string
	log *slog.Logger

	out      chan []byte
	closeReq chan closeRequest // buffered 1; the first request wins
	acks     chan string       // heartbeat ack message IDs from the reader
	readErr  chan error        // buffered 1
	stopped  chan struct{}     // closed when run stops accepting frames
	done     chan struct{}     // closed when the session is fully gone (unregistered)

	readerDone chan struct{}
	stopOnce   sync.Once
}

func newSession(srv *Server, ws *websocket.Conn, arn string, log *slog.Logger) *session {
	return &session{
		srv:        srv,
		ws:         ws,
		arn:        arn,
		log:        log,
		out:        make(chan []byte, outQueue),
		closeReq:   make(chan closeRequest, 1),
		acks:       make(chan string),
		readErr:    make(chan error, 1),
		stopped:    make(chan struct{}),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
}

func (s *session) send(frame []byte) error {
	select {
	case s.out <- frame:
		return nil
	case <-s.stopped:
		return fmt.Errorf("send to %s: %w", s.arn, ErrNotConnected)
	}
}

func (s *session) requestClose(code int, reason string) {
	select {
	case s.closeReq <- closeRequest{code, reason}:
	default: // a close is already pending
	}
}

// run serves the connection until it ends and returns why.
func (s *session) run() string {
	go s.readLoop()
	defer func() {
		s.stopOnce.Do(func() { close(s.stopped) })
		_ = s.ws.Close()
		<-s.readerDone
	}()

	o := s.srv.o
	heartbeat := time.NewTicker(o.HeartbeatInterval)
	defer heartbeat.Stop()
	lifetime := time.NewTimer(o.MaxConnectionLifetime)
	defer lifetime.Stop()
	pending := make(map[string]struct{}) // heartbeats sent and not yet acked

	for {
		select {
		case <-heartbeat.C:
			if len(pending) >= o.MissedAcksBeforeClose {
				s.log.Warn("agent stopped acknowledging heartbeats; closing", logging.KeyCount, len(pending))
				return s.closeWith(websocket.ClosePolicyViolation, "HeartbeatAcksMissing: Reconnect to continue")
			}
			id := uuid.NewString()
			healthy := true
			if err := s.writeMsg(&wire.HeartbeatMessage{Healthy: &healthy, MessageID: id}); err != nil {
				return "heartbeat write failed: " + err.Error()
			}
			pending[id] = struct{}{}
		case id := <-s.acks:
			delete(pending, id)
			if hook := s.srv.onAck; hook != nil {
				hook(s.arn, id)
			}
		case frame := <-s.out:
			if err := s.write(frame); err != nil {
				return "write failed: " + err.Error()
			}
		case <-lifetime.C:
			s.log.Info("ACS connection reached its maximum lifetime; closing")
			if err := s.writeMsg(&wire.CloseMessage{Message: connectionExpiredReason}); err != nil {
				return "write failed: " + err.Error()
			}
			return s.closeWith(websocket.CloseNormalClosure, connectionExpiredReason)
		case req := <-s.closeReq:
			return s.closeWith(req.code, req.reason)
		case err := <-s.readErr:
			return "read: " + err.Error()
		}
	}
}

func (s *session) writeMsg(msg any) error {
	frame, err := wire.Encode(msg)
	if err != nil {
		return err
	}
	return s.write(frame)
}

func (s *session) write(frame []byte) error {
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.ws.WriteMessage(websocket.TextMessage, frame)
}

// closeWith sends a close frame and waits briefly for the agent's echo.
func (s *session) closeWith(code int, reason string) string {
	s.stopOnce.Do(func() { close(s.stopped) })
	msg := websocket.FormatCloseMessage(code, reason)
	if err := s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
		return "close: " + err.Error()
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	for {
		select {
		case <-s.readErr:
			return fmt.Sprintf("closed (%d %s)", code, reason)
		case <-s.acks:
		case <-t.C:
			return fmt.Sprintf("closed (%d %s), agent did not answer", code, reason)
		}
	}
}

// readLoop decodes inbound frames: heartbeat acks go to run, the rest to OnMessage.
func (s *session) readLoop() {
	defer close(s.readerDone)
	for {
		typ, data, err := s.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has sent close code 1009 (message too big).
				s.log.Warn("agent sent a message over the ACS read limit; closing the connection",
					logging.KeyLimitBytes, s.srv.o.MaxMessageBytes)
			}
			s.readErr <- err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		msg, err := wire.Decode(data)
		if err != nil {
			s.log.Warn("dropping undecodable message from agent", logging.KeyError, err)
			continue
		}
		if ack, ok := msg.(*wire.HeartbeatAckRequest); ok {
			select {
			case s.acks <- ack.MessageID:
			case <-s.stopped:
			}
			continue
		}
		if s.srv.o.OnMessage != nil {
			s.srv.o.OnMessage(s.arn, msg)
		} else {
			s.log.Info("message from agent", logging.KeyMessageType, msg.(wire.Message).ShapeName())
		}
	}
}
