// Package tcs is the agent's TCS (Telemetry Communication Service) client:
// one long-lived websocket session over which the agent publishes its
// containers' metrics and health and its own instance status (reference §6).
//
// A Session is run by one goroutine, like the ACS session it mirrors. Each
// connection attempt discovers the telemetry endpoint, signs the upgrade
// with SigV4 and dials. While connected, the same goroutine owns the idle
// and lifetime timers and publishes once at once and then every 20 s; every
// outbound frame is signed (tcs/wire's frame format). Between connections
// it follows backoff.Reconnect, the rule the ACS session follows too:
//
//	        ┌──────────────────── ctx done ─────────────────────► return nil
//	discover ─► sign ─► dial ─► serve ─┬─ ends after ≥ 1–2 min up ─► reconnect now
//	    ▲                              ├─ ends sooner, or dial fails ─► backoff ─┐
//	    │                              └─ instance deregistered ─► wait 1 h ─┐   │
//	    └────────────────────────────────────────────────────────────────────┴───┘
//
// The serve loop ends on: the idle timer (no heartbeat or ack for 1–2 min),
// the maximum lifetime (30–35 min, close code 1000), StopTelemetrySession,
// a read error, or Deregistered.
package tcs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Reference defaults (§6).
const (
	DefaultPublishInterval   = 20 * time.Second
	DefaultHeartbeatTimeout  = time.Minute
	DefaultHeartbeatJitter   = time.Minute
	DefaultMaxLifetime       = 30 * time.Minute
	DefaultMaxLifetimeJitter = 5 * time.Minute
	DefaultBackoffMin        = time.Second
	DefaultBackoffMax        = time.Minute

	backoffMultiplier = 2
	backoffJitter     = 0.2
	// stableAfter (+ up to the same again) up makes a connection healthy:
	// the next one is dialled at once (backoff.Reconnect).
	stableAfter = time.Minute
	// deregisteredWait is how long a deregistered instance waits, as ACS does.
	deregisteredWait = time.Hour

	// ConnectionExpiredReason is the close-frame text sent at max lifetime.
	ConnectionExpiredReason = "ConnectionExpired: Reconnect to continue"
)

var (
	errIdleTimeout  = errors.New("tcs: connection had no heartbeat or ack for too long")
	errStopped      = errors.New("tcs: TCS stopped the telemetry session")
	errDeregistered = errors.New("tcs: the container instance was deregistered")
)

// Options configure a Session. Zero durations mean the reference defaults.
type Options struct {
	// DiscoverEndpoint returns DiscoverPollEndpoint's telemetryEndpoint (an
	// https or http base URL). It is called before every connection attempt.
	DiscoverEndpoint func(ctx context.Context) (string, error)

	Cluster, ContainerInstanceARN, AgentVersion, AgentHash, DockerVersion, Region string

	Credentials aws.CredentialsProvider // a cache: every frame is signed
	TLSConfig   *tls.Config             // nil: system roots; TLS 1.2 minimum either way
	Logger      *slog.Logger

	// Metrics supplies the task metrics; nil publishes none
	// (ECS_DISABLE_METRICS): health and instance status still flow.
	Metrics MetricsSource
	// Tasks supplies the containers' health.
	Tasks TaskSource
	// Checks are the instance status checks (ContainerRuntime, Agent).
	Checks []Check

	PublishInterval, HeartbeatTimeout, HeartbeatJitter, MaxLifetime, MaxLifetimeJitter, BackoffMin, BackoffMax time.Duration

	OnConnected func() // optional: called after each successful handshake
}

// Session is one agent's TCS session. Create it with NewSession and Run it once.
type Session struct {
	o   Options
	log *slog.Logger

	dial       wsconn.DialFunc
	now        func() time.Time
	deregWait  time.Duration
	dereg      chan struct{} // Deregistered's signal, buffered 1
	connected  atomic.Bool
	health     *healthTracker // owned by Run's goroutine
	statuses   *statusTracker // owned by Run's goroutine
	newMessage func() string  // message and request IDs
}

// NewSession fills in defaults; it does not connect.
func NewSession(o Options) *Session {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PublishInterval, DefaultPublishInterval)
	def(&o.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&o.MaxLifetime, DefaultMaxLifetime)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	// A zero jitter is a test setting only when the base was set too.
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
		o:          o,
		log:        logger.With(logging.KeyComponent, "tcs", logging.KeyContainerInstance, o.ContainerInstanceARN),
		dial:       wsconn.NewDialer(o.TLSConfig, maxInbound),
		now:        time.Now,
		deregWait:  deregisteredWait,
		dereg:      make(chan struct{}, 1),
		health:     newHealthTracker(),
		statuses:   newStatusTracker(o.Checks),
		newMessage: newID,
	}
}

// Connected reports whether a TCS connection is up now.
func (s *Session) Connected() bool { return s.connected.Load() }

// Deregistered tells the session that the instance was deregistered (ACS
// reported InactiveInstanceException): it disconnects and waits an hour
// before connecting again, as the ACS session does. Safe from any goroutine.
func (s *Session) Deregistered() {
	select {
	case s.dereg <- struct{}{}:
	default:
	}
}

// Run connects and keeps the session up until ctx ends, which returns nil.
func (s *Session) Run(ctx context.Context) error {
	rc := backoff.NewReconnect(backoff.New(s.o.BackoffMin, s.o.BackoffMax, backoffMultiplier, backoffJitter),
		stableAfter, stableAfter)
	failures := 0
	for {
		connected, err := s.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if errors.Is(err, errDeregistered) {
			rc.Reset()
			wait = s.deregWait
			s.log.Warn("container instance deregistered; TCS disconnected", logging.KeyDuration, wait)
		} else {
			wait = rc.Next(connected)
			if wait == 0 {
				failures = 0
				s.log.Info("TCS connection ended; reconnecting", logging.KeyError, err)
			} else {
				failures++
				s.log.Warn("TCS connection failed; backing off", logging.KeyError, err,
					logging.KeyBackoff, wait, logging.KeyAttempt, failures)
			}
		}
		if !s.sleep(ctx, wait) {
			return nil
		}
	}
}

// sleep waits d, or until ctx ends (false). A deregistration that arrives
// while not connected is taken here, so it is not acted on twice.
func (s *Session) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-s.dereg:
		if d < s.deregWait {
			d = s.deregWait
		}
	default:
	}
	return backoff.Sleep(ctx, d)
}

// connectOnce runs one connection attempt and reports how long it was up.
func (s *Session) connectOnce(ctx context.Context) (time.Duration, error) {
	if s.o.DiscoverEndpoint == nil {
		return 0, errors.New("tcs: no DiscoverEndpoint")
	}
	endpoint, err := s.o.DiscoverEndpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("discover TCS endpoint: %w", err)
	}
	u, err := tcsURL(endpoint, connectParams{
		cluster:              s.o.Cluster,
		containerInstanceARN: s.o.ContainerInstanceARN,
		agentHash:            s.o.AgentHash,
		agentVersion:         s.o.AgentVersion,
		docker:               s.o.DockerVersion,
	})
	if err != nil {
		return 0, err
	}
	header, err := signedHeader(ctx, s.o.Credentials, s.o.Region, u, s.now())
	if err != nil {
		return 0, err
	}
	ws, err := s.dial(ctx, wsconn.WebsocketURL(u), header)
	if err != nil {
		return 0, classifyDialError(err)
	}
	s.log.Info("connected to TCS", logging.KeyEndpoint, endpoint)
	if s.o.OnConnected != nil {
		s.o.OnConnected()
	}
	signer := wire.Signer{URL: u, Region: s.o.Region, Credentials: s.o.Credentials}
	start := time.Now()
	s.connected.Store(true)
	err = s.serve(ctx, ws, signer)
	s.connected.Store(false)
	return time.Since(start), err
}

// classifyDialError names the exception of a rejected handshake.
func classifyDialError(err error) error {
	var hs *wsconn.HandshakeError
	if !errors.As(err, &hs) {
		return fmt.Errorf("dial TCS: %w", err)
	}
	exc, decErr := wire.DecodeHandshakeError(hs.Body)
	if decErr != nil {
		return fmt.Errorf("dial TCS: %w", err)
	}
	return fmt.Errorf("dial TCS: HTTP %d: %w", hs.Status, exc)
}
