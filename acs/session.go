// Package acs is the agent's ACS (Agent Communication Service) client: one
// long-lived websocket session to the ECS backend over which task payloads,
// credentials and heartbeats arrive (reference §5).
//
// A Session is run by one goroutine. Each connection attempt discovers the
// endpoint, signs the upgrade with SigV4 and dials; while connected the same
// goroutine owns the idle and lifetime timers, answers heartbeats and hands
// other messages to Options.Handler. When a connection ends, how long it
// stayed up decides what follows (backoff.Reconnect): after a session of at
// least 1 to 2 minutes the agent redials at once and the backoff starts
// again from its minimum; after anything shorter, whatever the close code,
// it backs off with jitter, so a server that closes every session at once
// sees a few dials a minute rather than a storm:
//
//	        ┌────────────── ctx done ──────────────► return nil
//	discover ─► sign ─► dial ─► serve ─┬─ up ≥ 1–2 min (close, lifetime, error) ─► reconnect now
//	    ▲         handshake │          └─ up < 1–2 min, dial/DPE failure ─► backoff ─┐
//	    │  InvalidCluster/Instance,     InactiveInstance ─► wait 1 h ─┐               │
//	    │  AccessDenied ─► return ErrTerminal                         │               │
//	    └─────────────────────────────────────────────────────────────┴───────────────┘
package acs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

// Reference defaults (§5.5).
const (
	DefaultHeartbeatTimeout  = time.Minute
	DefaultHeartbeatJitter   = time.Minute
	DefaultMaxLifetime       = 30 * time.Minute
	DefaultMaxLifetimeJitter = 5 * time.Minute
	DefaultBackoffMin        = 250 * time.Millisecond
	DefaultBackoffMax        = 2 * time.Minute

	backoffMultiplier = 1.5
	backoffJitter     = 0.2
	// inactiveInstanceWait is how long a deregistered instance waits before
	// trying again; the agent keeps running.
	inactiveInstanceWait = time.Hour
	// backoffResetAfter (+ up to the same again) of uninterrupted connection
	// makes a session healthy: its end resets the backoff and is redialled
	// at once (reference §5.5: the backoff resets after 1–2 min connected).
	backoffResetAfter = time.Minute

	// ConnectionExpiredReason is the close-frame text sent at max lifetime.
	ConnectionExpiredReason = "ConnectionExpired: Reconnect to continue"
)

var (
	// ErrTerminal marks handshake rejections that retrying cannot fix:
	// InvalidClusterException, InvalidInstanceException, AccessDeniedException.
	// The wrapped error also wraps the *wire.XxxException.
	ErrTerminal = errors.New("acs: unretriable handshake error")
	// ErrNotConnected is returned by Send when no connection is up.
	ErrNotConnected = errors.New("acs: not connected")

	errInactive    = errors.New("acs: container instance is inactive")
	errIdleTimeout = errors.New("acs: connection had no activity for too long")
)

// Options configure a Session. Zero timer values mean the reference defaults.
type Options struct {
	// DiscoverEndpoint returns the DiscoverPollEndpoint "endpoint" (an https
	// or http base URL). It is called before every connection attempt.
	DiscoverEndpoint func(ctx context.Context) (string, error)

	Cluster, ContainerInstanceARN, AgentVersion, AgentHash, DockerVersion, Region string

	Credentials aws.CredentialsProvider
	TLSConfig   *tls.Config // nil: system roots, verification on; TLS 1.2 is the minimum either way
	Logger      *slog.Logger

	// Handler receives every decoded inbound message except heartbeats, which
	// the session answers itself. It runs on the session goroutine, so it must
	// hand slow work off and return; replies go through Session.Send.
	// nil: messages are logged (PayloadMessages are then not acknowledged).
	Handler func(ctx context.Context, msg any)

	HeartbeatTimeout, HeartbeatJitter, MaxLifetime, MaxLifetimeJitter, BackoffMin, BackoffMax time.Duration

	OnConnected func() // optional: called after each successful handshake
	// OnInactiveInstance is optional: called when ACS reports the instance
	// deregistered (InactiveInstanceException), before the one-hour wait.
	OnInactiveInstance func()
}

// Session is one agent's ACS session. Create it with NewSession and Run it once.
type Session struct {
	o   Options
	log *slog.Logger

	dial         wsconn.DialFunc
	inactiveWait time.Duration

	// sendCredentials is true until the first successful connect; Run's goroutine owns it.
	sendCredentials bool

	mu  sync.Mutex
	cur *wsconn.Conn // the live connection, for Send
}

// NewSession fills in defaults; it does not connect.
func NewSession(o Options) *Session {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&o.MaxLifetime, DefaultMaxLifetime)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	// A zero jitter is a legitimate test setting only when the base was set too.
	if o.HeartbeatJitter == 0 && o.HeartbeatTimeout == DefaultHeartbeatTimeout {
		o.HeartbeatJitter = DefaultHeartbeatJitter
	}
	if o.MaxLifetimeJitter == 0 && o.MaxLifetime == DefaultMaxLifetime {
		o.MaxLifetimeJitter = DefaultMaxLifetimeJitter
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Session{
		o:               o,
		log:             logger.With(logging.KeyComponent, "acs", logging.KeyContainerInstance, o.ContainerInstanceARN),
		dial:            wsconn.NewDialer(o.TLSConfig, MaxFrameBytes),
		inactiveWait:    inactiveInstanceWait,
		sendCredentials: true,
	}
}

// Run connects and keeps the session up until ctx ends, which returns nil.
// It returns an error wrapping ErrTerminal when ACS rejects the instance for
// good (invalid cluster or instance, access denied).
func (s *Session) Run(ctx context.Context) error {
	policy := backoff.NewReconnect(backoff.New(s.o.BackoffMin, s.o.BackoffMax, backoffMultiplier, backoffJitter),
		backoffResetAfter, backoffResetAfter)
	failures := 0
	for {
		connected, err := s.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case errors.Is(err, ErrTerminal):
			s.log.Error("ACS rejected the container instance; not retrying", logging.KeyError, err)
			return err
		case errors.Is(err, errInactive):
			s.log.Warn("container instance is inactive (deregistered); waiting before reconnecting",
				logging.KeyError, err, logging.KeyDuration, s.inactiveWait)
			if s.o.OnInactiveInstance != nil {
				s.o.OnInactiveInstance()
			}
			policy.Reset()
			wait = s.inactiveWait
		default:
			// How long the connection stayed up decides, not how it
			// ended: see backoff.Reconnect.
			wait = policy.Next(connected)
			if wait == 0 {
				failures = 0
				s.log.Info("ACS connection closed; reconnecting", logging.KeyError, err, logging.KeyDuration, connected)
				break
			}
			failures++
			level := slog.LevelWarn
			if permissible(err) {
				level = slog.LevelInfo // a normal close, but too soon after connecting to redial at once
			}
			s.log.Log(ctx, level, "ACS connection ended; backing off", logging.KeyError, err,
				logging.KeyDuration, connected, logging.KeyBackoff, wait, logging.KeyAttempt, failures)
		}
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
	}
}

// permissible reports whether err is a normal end of a connection (reference
// §5.5: codes 1000, 1001, 1006, 1011). It only sets how loudly the end is
// logged: the incumbent redials at once after these, which against a server
// that closes every session at once is a reconnect storm.
func permissible(err error) bool {
	if err == nil {
		return true
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case websocket.CloseNormalClosure, websocket.CloseGoingAway,
		websocket.CloseAbnormalClosure, websocket.CloseInternalServerErr:
		return true
	}
	return false
}

// connectOnce runs one connection attempt and reports how long it was connected.
func (s *Session) connectOnce(ctx context.Context) (time.Duration, error) {
	if s.o.DiscoverEndpoint == nil {
		return 0, fmt.Errorf("%w: no DiscoverEndpoint", ErrTerminal)
	}
	endpoint, err := s.o.DiscoverEndpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("discover ACS endpoint: %w", err)
	}
	u, err := acsURL(endpoint, connectParams{
		cluster:              s.o.Cluster,
		containerInstanceARN: s.o.ContainerInstanceARN,
		agentHash:            s.o.AgentHash,
		agentVersion:         s.o.AgentVersion,
		docker:               s.o.DockerVersion,
		sendCredentials:      s.sendCredentials,
	})
	if err != nil {
		return 0, err
	}
	header, err := signedHeader(ctx, s.o.Credentials, s.o.Region, u, time.Now())
	if err != nil {
		return 0, err
	}
	s.log.Debug("connecting to ACS", logging.KeyEndpoint, endpoint)
	ws, err := s.dial(ctx, wsconn.WebsocketURL(u), header)
	if err != nil {
		return 0, classifyDialError(err)
	}
	s.sendCredentials = false
	s.log.Info("connected to ACS", logging.KeyEndpoint, endpoint)
	if s.o.OnConnected != nil {
		s.o.OnConnected()
	}
	start := time.Now()
	err = s.serve(ctx, ws)
	return time.Since(start), err
}

// classifyDialError turns a rejected handshake's unframed error body into
// ErrTerminal, errInactive or a retriable error.
func classifyDialError(err error) error {
	var hs *wsconn.HandshakeError
	if !errors.As(err, &hs) {
		return fmt.Errorf("dial ACS: %w", err)
	}
	exc, decErr := wire.DecodeHandshakeError(hs.Body)
	if decErr != nil {
		return fmt.Errorf("dial ACS: %w", err)
	}
	switch exc.(type) {
	case *wire.InvalidClusterException, *wire.InvalidInstanceException, *wire.AccessDeniedException:
		return fmt.Errorf("%w: %w", ErrTerminal, exc)
	case *wire.InactiveInstanceException:
		return fmt.Errorf("%w: %w", errInactive, exc)
	}
	return fmt.Errorf("dial ACS: HTTP %d: %w", hs.Status, exc)
}

// Send encodes msg (a wire shape) and queues it on the live connection.
func (s *Session) Send(ctx context.Context, msg any) error {
	frame, err := wire.Encode(msg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return sendOn(ctx, c, frame)
}

func (s *Session) setCurrent(c *wsconn.Conn) {
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
}
