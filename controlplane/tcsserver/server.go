// Package tcsserver is the control plane's TCS (Telemetry Communication
// Service) endpoint, GET <base>/tcs/ws: the server side of reference §6, for
// this project's agent and for Amazon's unchanged.
//
// The upgrade is authenticated with SigV4 (service "ecs") and authorized by
// the same decision the ACS server uses (Registry.CheckInstance: the
// ecs:StartTelemetrySession action, an agent key only on the instances it
// registered). Then every frame the agent sends is checked before anything
// in it is used:
//
//  1. It must be a signed frame (tcs/wire): a SigV4 header block, then the
//     envelope. The block's Host must be the upgrade's, and the signature
//     must verify for GET <the upgrade's path and query> with the envelope
//     as body (Options.VerifyFrame), so a changed byte is refused.
//  2. The key that signed it must be the key that opened the session.
//  3. Its metadata must name the session's container instance and cluster,
//     and every task it reports on must be placed on that instance.
//
// A refused frame is answered with a TCS exception (BadRequestException for
// what fails authentication or names another instance,
// InvalidParameterException for a malformed publish) and is neither stored
// nor acknowledged; the session goes on. An accepted publish is stored in
// the Sink and acknowledged (AckPublishMetric, AckPublishHealth,
// AckPublishInstanceStatus). Data about tasks the control plane does not
// know (any more) or that stopped, and containers a task does not have, is
// left out and counted (Stats), and its first occurrence per session logged.
//
// The server sends HeartbeatMessage{healthy} every HeartbeatInterval, closes
// a connection after MaxConnectionLifetime (close code 1000, as ACS) or when
// the agent sent nothing for IdleTimeout, and refuses frames over
// MaxFrameBytes (close code 1009).
//
// Each connection is served by the goroutine of its HTTP request, which is
// also the connection's only writer, plus one reader goroutine that checks
// and stores frames.
package tcsserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/controlplane/wsserver"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Defaults for zero Options values.
const (
	DefaultHeartbeatInterval     = 30 * time.Second
	DefaultMaxConnectionLifetime = 30 * time.Minute
	// DefaultIdleTimeout is how long the server waits for any frame: agents
	// publish every 20 s.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxFrameBytes bounds one frame: agents keep an envelope under
	// 1 MiB, and the signed header block adds well under 4 KiB.
	DefaultMaxFrameBytes = 1<<20 + 16<<10
)

// Errors a Registry returns from CheckInstance; each becomes its exception.
var (
	ErrInvalidCluster   = wsserver.ErrInvalidCluster
	ErrInvalidInstance  = wsserver.ErrInvalidInstance
	ErrInactiveInstance = wsserver.ErrInactiveInstance
)

// Task is what the server needs to know about a task an agent reports on.
type Task struct {
	telemetry.Task          // Instance: where the task was placed
	Containers     []string // container names
	Stopped        bool     // lastStatus STOPPED
}

// Registry is what the server needs from the control plane's state.
type Registry interface {
	// CheckInstance validates the handshake: ErrInvalidCluster,
	// ErrInvalidInstance, ErrInactiveInstance, or an error matching
	// authz.ErrAccessDenied when principal may not open the instance's
	// telemetry session.
	CheckInstance(ctx context.Context, principal authz.Principal, cluster, containerInstanceARN string) error
	// Tasks returns the tasks among taskARNs that the control plane knows,
	// wherever they are placed, by ARN.
	Tasks(ctx context.Context, taskARNs []string) (map[string]Task, error)
}

// Sink stores accepted telemetry (*telemetry.Store). Each Put returns how
// many containers or checks it could not keep.
type Sink interface {
	PutMetrics(containerInstanceARN string, b telemetry.Batch, tasks []telemetry.TaskMetrics) int
	PutHealth(containerInstanceARN string, b telemetry.Batch, tasks []telemetry.TaskHealth) int
	PutInstanceStatus(containerInstanceARN string, statuses []telemetry.InstanceStatus) int
}

// Options configure a Server. Zero durations and sizes mean the defaults.
type Options struct {
	Registry Registry
	Sink     Sink
	// Authenticate checks the upgrade request's SigV4 signature and returns
	// who signed it; an error rejects it with 403. nil accepts every
	// upgrade as an admin's (tests only).
	Authenticate func(r *http.Request) (authz.Principal, error)
	// VerifyFrame checks the signature of the request a frame was signed as
	// (wire.FrameRequest) over its envelope and returns who signed it. nil
	// takes every well-formed frame as signed by the session's key (tests
	// only).
	VerifyFrame func(r *http.Request, envelope []byte) (authz.Principal, error)

	HeartbeatInterval     time.Duration
	MaxConnectionLifetime time.Duration
	IdleTimeout           time.Duration
	MaxFrameBytes         int64
	Logger                *slog.Logger
}

// Stats counts what the server did with agents' frames since it started.
type Stats struct {
	Accepted uint64 // frames stored and acknowledged
	Refused  uint64 // frames answered with an exception
	// Dropped counts the parts of accepted frames that were left out: tasks
	// unknown or stopped, containers a task does not have, entries over the
	// Sink's bounds.
	Dropped uint64
}

// Server is the TCS endpoint. It is an http.Handler.
type Server struct {
	o        Options
	log      *slog.Logger
	upgrader websocket.Upgrader

	accepted, refused, dropped atomic.Uint64

	sessions wsserver.Sessions[*session]
}

// New returns a Server; it serves nothing until mounted.
func New(o Options) *Server {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.MaxConnectionLifetime <= 0 {
		o.MaxConnectionLifetime = DefaultMaxConnectionLifetime
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		o:   o,
		log: logger.With(logging.KeyComponent, "tcsserver"),
		// Write buffers come from a pool while a frame is written, rather
		// than one per session for its lifetime: a fleet keeps thousands of
		// sessions open that write a frame now and then.
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{}},
	}
}

// ServeHTTP handles GET <base>/tcs/ws?agentHash=..&agentVersion=..&cluster=..&containerInstance=..&dockerVersion=..
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		wsserver.Reject(w, http.StatusMethodNotAllowed, "BadRequestException", "TCS accepts only GET (a websocket upgrade)")
		return
	}
	q := r.URL.Query()
	cluster, arn := q.Get("cluster"), q.Get("containerInstance")
	if cluster == "" || arn == "" {
		wsserver.Reject(w, http.StatusBadRequest, "BadRequestException", "cluster and containerInstance are required")
		return
	}
	log := s.log.With(logging.KeyContainerInstance, arn, logging.KeyCluster, cluster)
	if s.sessions.Closed() {
		wsserver.Reject(w, http.StatusServiceUnavailable, "ServerException", "TCS is shutting down")
		return
	}
	principal := authz.Principal{ARN: "unauthenticated", Role: authz.RoleAdmin}
	if s.o.Authenticate != nil {
		var err error
		if principal, err = s.o.Authenticate(r); err != nil {
			code, msg := "AccessDeniedException", err.Error()
			var coded interface {
				ErrorCode() string
				ErrorMessage() string
			}
			if errors.As(err, &coded) && coded.ErrorCode() != "" {
				code, msg = coded.ErrorCode(), coded.ErrorMessage()
			}
			log.Info("TCS handshake not authenticated", logging.KeyError, err)
			wsserver.Reject(w, http.StatusForbidden, code, msg)
			return
		}
	}
	log = log.With(logging.KeyAccessKeyID, principal.AccessKeyID)
	if !s.checkInstance(w, r, log, principal, cluster, arn) {
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered the request.
		log.Info("TCS websocket upgrade failed", logging.KeyError, err)
		return
	}
	ws.SetReadLimit(s.o.MaxFrameBytes)
	sess := newSession(s, ws, sessionInfo{
		arn: arn, cluster: cluster, principal: principal, host: r.Host,
		url: &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
	}, log)
	if _, ok := s.sessions.Add(sess.arn, sess); !ok {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		_ = ws.Close()
		close(sess.done)
		return
	}
	log.Info("agent connected to TCS", logging.KeyVersion, q.Get("agentVersion"), "agentHash", q.Get("agentHash"),
		logging.KeyDockerVersion, q.Get("dockerVersion"))
	reason := sess.run()
	s.sessions.Remove(sess.arn, sess)
	close(sess.done)
	log.Info("agent disconnected from TCS", logging.KeyReason, reason)
}

// checkInstance answers the handshake when the registry refuses it.
func (s *Server) checkInstance(w http.ResponseWriter, r *http.Request, log *slog.Logger, p authz.Principal, cluster, arn string) bool {
	if err := s.o.Registry.CheckInstance(r.Context(), p, cluster, arn); err != nil {
		wsserver.RejectInstance(w, log, "TCS", err)
		return false
	}
	return true
}

// Sessions counts the live sessions of every instance.
func (s *Server) Sessions() int { return s.sessions.Count() }

// Stats returns the frame counters.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), Dropped: s.dropped.Load()}
}

// Disconnect closes the instance's sessions (normal close), for example after
// it was deregistered.
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
