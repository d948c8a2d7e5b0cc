package tcsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const (
	outQueue = 64
	// writeTimeout bounds every frame write, so a stuck agent cannot wedge
	// the connection's goroutine.
	writeTimeout = 10 * time.Second
	// closeGrace is how long a close frame waits for the agent's echo.
	closeGrace = 5 * time.Second
	// connectionExpiredReason is the close-frame text at max lifetime, the
	// words ACS and the agents use.
	connectionExpiredReason = "ConnectionExpired: Reconnect to continue"
)

// sessionInfo is what the handshake established.
type sessionInfo struct {
	arn       string // container instance ARN
	cluster   string // as the agent named it in the query
	principal authz.Principal
	host      string   // the upgrade's Host: every frame must name it
	url       *url.URL // the upgrade's path and query: every frame is signed for it
}

type closeRequest struct {
	code   int
	reason string
}

// session is one agent connection. Its run loop (the HTTP request's
// goroutine) is the only writer; readLoop is the only reader, and checks
// and stores each frame.
type session struct {
	sessionInfo
	srv *Server
	ws  *websocket.Conn
	log *slog.Logger

	clusterName, clusterARN string // of the instance, from its ARN

	out      chan []byte
	closeReq chan closeRequest // buffered 1; the first request wins
	readErr  chan error        // buffered 1
	stopped  chan struct{}     // closed when run stops accepting frames
	done     chan struct{}     // closed when the session is fully gone

	readerDone chan struct{}
	stopOnce   sync.Once

	logged map[string]bool // reader-owned: what was already logged at warn or info
}

func newSession(srv *Server, ws *websocket.Conn, info sessionInfo, log *slog.Logger) *session {
	s := &session{
		sessionInfo: info,
		srv:         srv,
		ws:          ws,
		log:         log,
		out:         make(chan []byte, outQueue),
		closeReq:    make(chan closeRequest, 1),
		readErr:     make(chan error, 1),
		stopped:     make(chan struct{}),
		done:        make(chan struct{}),
		readerDone:  make(chan struct{}),
		logged:      map[string]bool{},
	}
	s.clusterName, s.clusterARN = clusterOf(info.arn)
	return s
}

// clusterOf returns the cluster name and ARN of a container instance ARN
// (arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>).
func clusterOf(instanceARN string) (name, arn string) {
	prefix, rest, ok := strings.Cut(instanceARN, ":container-instance/")
	if !ok {
		return "", ""
	}
	name, _, ok = strings.Cut(rest, "/")
	if !ok {
		return "", ""
	}
	return name, prefix + ":cluster/" + name
}

func (s *session) requestClose(code int, reason string) {
	select {
	case s.closeReq <- closeRequest{code, reason}:
	default: // a close is already pending
	}
}

// queue hands a frame to the writer; false when the session is over.
func (s *session) queue(frame []byte) bool {
	select {
	case s.out <- frame:
		return true
	case <-s.stopped:
		return false
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
	healthy := true
	beat, err := wire.Encode(&wire.HeartbeatMessage{Healthy: &healthy})
	if err != nil {
		return "encode heartbeat: " + err.Error()
	}

	for {
		select {
		case <-heartbeat.C:
			if err := s.write(beat); err != nil {
				return "heartbeat write failed: " + err.Error()
			}
		case frame := <-s.out:
			if err := s.write(frame); err != nil {
				return "write failed: " + err.Error()
			}
		case <-lifetime.C:
			s.log.Info("TCS connection reached its maximum lifetime; closing")
			return s.closeWith(websocket.CloseNormalClosure, connectionExpiredReason)
		case req := <-s.closeReq:
			return s.closeWith(req.code, req.reason)
		case err := <-s.readErr:
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				s.log.Warn("agent sent nothing on TCS for too long; closing", logging.KeyDuration, o.IdleTimeout)
				return s.closeWith(websocket.CloseNormalClosure, "IdleTimeout: nothing received for "+o.IdleTimeout.String())
			}
			return "read: " + err.Error()
		}
	}
}

func (s *session) write(frame []byte) error {
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.ws.WriteMessage(websocket.TextMessage, frame)
}

// closeWith sends a close frame and waits briefly for the agent's echo (or
// for the reader to have failed already).
func (s *session) closeWith(code int, reason string) string {
	s.stopOnce.Do(func() { close(s.stopped) })
	msg := websocket.FormatCloseMessage(code, reason)
	if err := s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
		return "close: " + err.Error()
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-s.readerDone:
		return fmt.Sprintf("closed (%d %s)", code, reason)
	case <-t.C:
		return fmt.Sprintf("closed (%d %s), agent did not answer", code, reason)
	}
}

// readLoop reads frames until the connection fails: each is checked,
// stored and answered (handle).
func (s *session) readLoop() {
	defer close(s.readerDone)
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(s.srv.o.IdleTimeout))
		typ, data, err := s.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla has sent close code 1009 (message too big).
				s.log.Warn("agent sent a frame over the TCS read limit; closing the connection",
					logging.KeyLimitBytes, s.srv.o.MaxFrameBytes)
			}
			select {
			case s.readErr <- err:
			default:
			}
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		reply := s.handle(data)
		if reply == nil {
			continue
		}
		frame, err := wire.Encode(reply)
		if err != nil {
			s.log.Error("could not encode a TCS reply", logging.KeyError, err)
			continue
		}
		if !s.queue(frame) {
			return
		}
	}
}

// logFirst logs msg at level the first time key comes up in this session,
// and at debug after that: an agent repeats its mistakes every 20 s.
func (s *session) logFirst(level slog.Level, key, msg string, args ...any) {
	if s.logged[key] {
		level = slog.LevelDebug
	} else if len(s.logged) < 64 {
		s.logged[key] = true
	}
	s.log.Log(context.Background(), level, msg, args...)
}
