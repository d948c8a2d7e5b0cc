// Package acsserver is the control plane's ACS websocket endpoint (GET /ws):
// the server side of reference §5. It validates and authenticates the
// upgrade, then keeps one session per connection alive with heartbeats,
// closes sessions that stop acknowledging them or outlive their maximum
// lifetime, records in the Registry whether each instance has an agent
// connected, and lets the rest of the control plane push messages to an
// instance (Send) and receive what agents send (Options.OnMessage).
//
// Each connection is served by the goroutine of its HTTP request, which is
// also the connection's only writer, plus one reader goroutine.
package acsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/wsserver"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Defaults for zero Options values.
const (
	DefaultHeartbeatInterval     = 30 * time.Second
	DefaultMissedAcksBeforeClose = 3
	DefaultMaxConnectionLifetime = 30 * time.Minute
	// DefaultMaxMessageBytes bounds one message from an agent. Agents send
	// acknowledgements and short reports; a larger frame closes the
	// connection (close code 1009) before it is buffered.
	DefaultMaxMessageBytes = 1 << 20

	// registryTimeout bounds a SetAgentConnected call made after the request ended.
	registryTimeout = 10 * time.Second
)

// Errors a Registry returns from CheckInstance; each becomes its ACS exception.
var (
	ErrInvalidCluster   = wsserver.ErrInvalidCluster
	ErrInvalidInstance  = wsserver.ErrInvalidInstance
	ErrInactiveInstance = wsserver.ErrInactiveInstance

	// ErrNotConnected is returned by Send when the instance has no live session.
	ErrNotConnected = errors.New("acsserver: container instance not connected")
)

// Registry is what the server needs from the control plane's state.
type Registry interface {
	// CheckInstance validates the handshake: ErrInvalidCluster,
	// ErrInvalidInstance, ErrInactiveInstance, or an error matching
	// authz.ErrAccessDenied when principal may not open the instance's
	// session (an agent key and an instance it did not register).
	CheckInstance(ctx context.Context, principal authz.Principal, cluster, containerInstanceARN string) error
	// SetAgentConnected records whether at least one live ACS session exists for the instance.
	SetAgentConnected(ctx context.Context, containerInstanceARN string, connected bool) error
}

// VersionInfo is what an agent announces in the handshake's query
// parameters agentVersion, agentHash and dockerVersion (the latter as
// "DockerVersion: <version>", as ECS shows it).
type VersionInfo struct {
	AgentVersion, AgentHash, DockerVersion string
}

// Options configure a Server. Zero durations and counts mean the defaults.
type Options struct {
	Registry Registry
	// Authenticate checks the upgrade request's SigV4 signature and returns
	// who signed it. A non-nil error rejects it with 403 and an unframed
	// {"AccessDeniedException": msg}, or {"<code>": msg} when the error has
	// an ErrorCode() string method. nil accepts every upgrade as an admin's
	// (tests only).
	Authenticate func(r *http.Request) (authz.Principal, error)

	HeartbeatInterval     time.Duration
	MissedAcksBeforeClose int
	MaxConnectionLifetime time.Duration
	// MaxMessageBytes bounds one inbound message; 0 = DefaultMaxMessageBytes.
	MaxMessageBytes int64
	Logger          *slog.Logger

	// OnMessage receives every decoded inbound message except heartbeat acks
	// (AckRequest, IAMRoleCredentialsAckRequest, ...). It runs on the
	// connection's reader goroutine: slow work must be handed off.
	OnMessage func(containerInstanceARN string, msg any)
	// RecordVersionInfo, when set, keeps what the agent said about itself in
	// the handshake's query (Amazon's agent says it only there, not when it
	// registers). It runs on the connection's goroutine before the session
	// serves; an error is logged.
	RecordVersionInfo func(ctx context.Context, containerInstanceARN string, v VersionInfo) error
	// OnConnect is called for every new session once it is registered, so
	// that Send reaches it (for example to resend what the instance has not
	// acknowledged). It runs on the connection's goroutine before the
	// session serves: slow work must be handed off.
	OnConnect func(containerInstanceARN string)
	// OnSendCredentials is called after OnConnect for a session whose agent
	// asked for credentials (sendCredentials=true: the first connection of
	// an agent process, which keeps task credentials in memory only).
	// It runs on the connection's goroutine: slow work must be handed off.
	OnSendCredentials func(containerInstanceARN string)
}

// Server is the ACS endpoint. It is an http.Handler.
type Server struct {
	o        Options
	log      *slog.Logger
	upgrader websocket.Upgrader

	// regMu orders session registration with the SetAgentConnected calls it
	// causes, so that a reconnect overlapping the old session never leaves the
	// registry saying "disconnected".
	regMu    sync.Mutex
	sessions wsserver.Sessions[*session]

	// onAck is a test hook called for each heartbeat ack.
	onAck func(containerInstanceARN, messageID string)
}

// New returns a Server; it serves nothing until mounted.
func New(o Options) *Server {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.MissedAcksBeforeClose <= 0 {
		o.MissedAcksBeforeClose = DefaultMissedAcksBeforeClose
	}
	if o.MaxConnectionLifetime <= 0 {
		o.MaxConnectionLifetime = DefaultMaxConnectionLifetime
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		o:   o,
		log: logger.With(logging.KeyComponent, "acsserver"),
		// Write buffers come from a pool while a frame is written, rather
		// than one per session for its lifetime: a fleet keeps thousands of
		// sessions open that write a frame now and then.
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 32768, WriteBufferPool: &sync.Pool{}},
	}
}

// ServeHTTP handles GET /ws?clusterArn=..&containerInstanceArn=..&...
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		wsserver.Reject(w, http.StatusMethodNotAllowed, "BadRequestException", "ACS accepts only GET")
		return
	}
	q := r.URL.Query()
	cluster, arn := q.Get("clusterArn"), q.Get("containerInstanceArn")
	if cluster == "" || arn == "" {
		wsserver.Reject(w, http.StatusBadRequest, "BadRequestException", "clusterArn and containerInstanceArn are required")
		return
	}
	log := s.log.With(logging.KeyContainerInstance, arn, logging.KeyCluster, cluster)
	if s.sessions.Closed() {
		wsserver.Reject(w, http.StatusServiceUnavailable, "ServerException", "ACS is shutting down")
		return
	}
	principal := authz.Principal{ARN: "unauthenticated", Role: authz.RoleAdmin}
	if s.o.Authenticate != nil {
		var err error
		if principal, err = s.o.Authenticate(r); err != nil {
			code := "AccessDeniedException"
			var coded interface{ ErrorCode() string }
			if errors.As(err, &coded) && coded.ErrorCode() != "" {
				code = coded.ErrorCode()
			}
			log.Info("ACS handshake not authenticated", logging.KeyError, err)
			wsserver.Reject(w, http.StatusForbidden, code, err.Error())
			return
		}
	}
	log = log.With(logging.KeyAccessKeyID, principal.AccessKeyID)
	if err := s.o.Registry.CheckInstance(r.Context(), principal, cluster, arn); err != nil {
		wsserver.RejectInstance(w, log, "ACS", err)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered the request.
		log.Info("ACS websocket upgrade failed", logging.KeyError, err)
		return
	}
	ws.SetReadLimit(s.o.MaxMessageBytes)
	sess := newSession(s, ws, arn, log)
	if !s.register(r.Context(), sess) {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		_ = ws.Close()
		close(sess.done)
		return
	}
	log.Info("agent connected to ACS",
		logging.KeyVersion, q.Get("agentVersion"), "agentHash", q.Get("agentHash"),
		logging.KeyDockerVersion, q.Get("dockerVersion"), logging.KeyResendRoles, q.Get("sendCredentials"))
	v := VersionInfo{AgentVersion: q.Get("agentVersion"), AgentHash: q.Get("agentHash"), DockerVersion: q.Get("dockerVersion")}
	if v != (VersionInfo{}) && s.o.RecordVersionInfo != nil {
		if err := s.o.RecordVersionInfo(r.Context(), arn, v); err != nil {
			log.Warn("could not record the agent's version", logging.KeyError, err)
		}
	}
	if s.o.OnConnect != nil {
		s.o.OnConnect(arn)
	}
	if s.o.OnSendCredentials != nil && q.Get("sendCredentials") == "true" {
		s.o.OnSendCredentials(arn)
	}
	reason := sess.run()
	s.unregister(sess)
	close(sess.done)
	log.Info("agent disconnected from ACS", logging.KeyReason, reason)
}

// register adds sess and marks the instance connected if it is the first
// session. It reports false if the server is closed.
func (s *Server) register(ctx context.Context, sess *session) bool {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	first, ok := s.sessions.Add(sess.arn, sess)
	if first {
		if err := s.o.Registry.SetAgentConnected(ctx, sess.arn, true); err != nil {
			sess.log.Warn("could not record the agent as connected", logging.KeyError, err)
		}
	}
	return ok
}

// unregister removes sess and marks the instance disconnected when it was the last.
func (s *Server) unregister(sess *session) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.sessions.Remove(sess.arn, sess) {
		ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
		defer cancel()
		if err := s.o.Registry.SetAgentConnected(ctx, sess.arn, false); err != nil {
			sess.log.Warn("could not record the agent as disconnected", logging.KeyError, err)
		}
	}
}

// Sessions counts the live sessions of every instance.
func (s *Server) Sessions() int { return s.sessions.Count() }

// Connected reports whether the instance has at least one live session.
func (s *Server) Connected(containerInstanceARN string) bool {
	_, ok := s.sessions.Newest(containerInstanceARN)
	return ok
}

// Send queues msg (a wire shape, e.g. *wire.PayloadMessage) on the instance's
// newest session. It returns ErrNotConnected when there is none or it ends
// before the message is queued; delivery itself is not confirmed (the agent's
// AckRequest, seen through OnMessage, is the confirmation).
func (s *Server) Send(containerInstanceARN string, msg any) error {
	frame, err := wire.Encode(msg)
	if err != nil {
		return fmt.Errorf("send to %s: %w", containerInstanceARN, err)
	}
	sess, ok := s.sessions.Newest(containerInstanceARN)
	if !ok {
		return fmt.Errorf("send to %s: %w", containerInstanceARN, ErrNotConnected)
	}
	return sess.send(frame)
}

// Disconnect closes the instance's sessions (normal close), for example after
// it was deregistered: the agent reconnects and is then told it is inactive.
func (s *Server) Disconnect(containerInstanceARN string) {
	for _, sess := range s.sessions.Of(containerInstanceARN) {
		sess.requestClose(websocket.CloseNormalClosure, "container instance disconnected by the control plane")
	}
}

// Close closes every session with "going away", refuses new ones and waits
// until the sessions have ended.
func (s *Server) Close() {
	all := s.sessions.Close()
	for _, sess := range all {
		sess.requestClose(websocket.CloseGoingAway, "server shutting down")
	}
	for _, sess := range all {
		<-sess.done
	}
}
