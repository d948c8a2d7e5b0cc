// Package controlplane is the local ECS control plane: the ECS JSON API
// (package ecsapi) on POST /, the ACS websocket server (package acsserver) on
// GET /ws and the TCS one (package tcsserver) on GET /tcs/ws, all
// authenticated with SigV4 (service "ecs", the configured region), over one
// bbolt store (package store, controlplane.db in DataDir). What agents
// publish over TCS lives in memory only (package telemetry).
//
// Routes:
//
//	POST /         ECS API, X-Amz-Target AmazonEC2ContainerServiceV20141113.<Op>
//	GET  /ws       ACS (the agent dials <DiscoverPollEndpoint endpoint>/ws)
//	GET  /tcs/ws   TCS (the agent dials <DiscoverPollEndpoint telemetryEndpoint>/ws)
//	GET  /metrics  Prometheus exposition (package metrics), unauthenticated;
//	               on Options.MetricsListen instead when that is set
//
// Services: a services.Driver goroutine reconciles every service (package
// services decides, ecsapi.ReconcileServices places and writes), woken by
// the task and instance writes services.Watch sees and every
// Options.ServiceInterval.
//
// Tasks: RunTask and StartTask place tasks with package scheduler; the
// tasks they create, and those StopTask stops, are sent to their agents as
// ACS PayloadMessages by package delivery, again and again until the agent
// acknowledges them (also after a restart of the control plane). Stopped
// tasks are pruned after Options.StoppedTaskRetention (store.Pruner).
//
// The base URL handed out by DiscoverPollEndpoint is Options.AdvertiseURL, or
// when empty the scheme and Host of the DiscoverPollEndpoint request itself.
//
// Credentials: Options.Credentials, else every profile of
// Options.CredentialsFile (AWS shared-credentials format, with an optional
// ecs_role = admin|agent per profile), else the process's
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] as an
// admin key. Who may do what is package authz's decision.
//
// Transport: signatures are only as private as their transport, so a
// control plane that would listen beyond loopback without TLS refuses to
// start unless Options.InsecureHTTP says so, and then warns.
package controlplane

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/delivery"
	"github.com/open-ecs/ecs-agent/controlplane/ecsapi"
	"github.com/open-ecs/ecs-agent/controlplane/metrics"
	"github.com/open-ecs/ecs-agent/controlplane/roles"
	"github.com/open-ecs/ecs-agent/controlplane/services"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/tcsserver"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/internal/boundedfile"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Defaults for empty Options fields.
const (
	DefaultListen    = "127.0.0.1:51677"
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"

	shutdownTimeout   = 10 * time.Second
	readHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection that has carried
	// no request for this long, so that clients that never close one (or
	// many of them) cannot hold a goroutine and its buffers each for ever.
	// It is longer than the AWS SDKs' own idle timeout (90 s), so that
	// they close first rather than reuse a connection the server is
	// closing. Websocket sessions, once upgraded, are not affected.
	DefaultIdleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers (net/http's default is
	// 1 MiB). SigV4 clients send well under 4 KiB.
	maxHeaderBytes = 64 << 10
)

// ErrInsecureListen is returned by New and Serve for plain HTTP beyond
// loopback without Options.InsecureHTTP.
var ErrInsecureListen = errors.New("refusing to serve plain HTTP beyond loopback: " +
	"request signatures and task payloads would cross the network in clear; " +
	"pass -tls-cert and -tls-key, or -insecure-http to accept the risk")

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// Options configure a control plane.
type Options struct {
	Listen          string // host:port; DefaultListen when empty
	DataDir         string // holds controlplane.db; created if missing
	Region          string // DefaultRegion when empty
	AccountID       string // 12 digits; DefaultAccountID when empty
	CredentialsFile string // AWS shared-credentials file
	// Credentials, when set, are the accepted keys and override
	// CredentialsFile and the environment (tests, embedding).
	Credentials authz.Keyring
	TLSCert     string // PEM files; both or neither. With them: HTTPS and WSS.
	TLSKey      string
	// TLSSelfSigned serves HTTPS and WSS with a certificate from a private
	// CA that the control plane creates and keeps in DataDir/tls (see
	// selfsigned.go); it excludes TLSCert and TLSKey.
	TLSSelfSigned bool
	// InsecureHTTP allows plain HTTP on an address beyond loopback.
	InsecureHTTP bool
	AdvertiseURL string // base URL agents reach us at; "" = per request Host
	Logger       *slog.Logger

	HeartbeatInterval     time.Duration // ACS and TCS heartbeat; 0 = the servers' default
	MaxConnectionLifetime time.Duration // ACS and TCS session lifetime; 0 = the servers' default
	// MetricsListen, when set, serves GET /metrics on this address alone
	// instead of on Listen.
	MetricsListen string
	// Profiling serves Go's pprof profiles under /debug/pprof/ on
	// MetricsListen (which it needs: the API listener has no room for
	// unauthenticated debugging).
	Profiling bool
	// RedeliverInterval is how often unacknowledged tasks are sent to their
	// agents again; 0 = delivery.DefaultRedeliverInterval.
	RedeliverInterval time.Duration

	// Task role credentials come from STS AssumeRole at STSEndpoint
	// (-sts-endpoint), signed with the control plane's own AWS
	// credentials, or from RolesFile (-roles), static keys per role; at
	// most one. Without either, tasks with a taskRoleArn or an
	// executionRoleArn are not placed. RoleSource replaces both (tests).
	STSEndpoint string
	RolesFile   string
	RoleSource  roles.Source
	// RoleSessionDuration is the lifetime of issued role credentials;
	// 0 = roles.DefaultSessionDuration. They are refreshed at half-life.
	RoleSessionDuration time.Duration

	// StoppedTaskRetention is how long a stopped task stays describable
	// before it is pruned; 0 = store.DefaultRetention (an hour, as ECS).
	StoppedTaskRetention time.Duration
	// ServiceInterval is how often the service scheduler reconciles every
	// service besides the events that wake it; 0 = services.DefaultInterval.
	ServiceInterval time.Duration
	// IdleTimeout closes idle keep-alive connections; 0 = DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Server is a control plane instance.
type Server struct {
	o       Options
	log     *slog.Logger
	store   *store.Bolt
	api     *ecsapi.API
	acs     *acsserver.Server
	tcs     *tcsserver.Server
	tel     *telemetry.Store
	metrics *metrics.Metrics
	deliver *delivery.Deliverer
	refresh *delivery.Refresher // nil without a source of role credentials
	pruner  *store.Pruner
	svcs    *services.Driver
	handler http.Handler
	tls     *tls.Config

	closeOnce sync.Once
	closeErr  error
}

// New validates the options, opens the store and builds the handlers. The
// caller must Close the server.
func New(o Options) (*Server, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if !accountIDRE.MatchString(o.AccountID) {
		return nil, fmt.Errorf("account ID %q: must be 12 digits", o.AccountID)
	}
	if o.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if o.AdvertiseURL != "" {
		u, err := url.Parse(o.AdvertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("advertise URL %q: want http(s)://host[:port]", o.AdvertiseURL)
		}
	}
	if o.Profiling && o.MetricsListen == "" {
		return nil, fmt.Errorf("profiling needs its own address: set -metrics-listen too")
	}
	if o.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(o.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics listen address %q: want host:port: %w", o.MetricsListen, err)
		}
	}
	if o.StoppedTaskRetention < 0 {
		return nil, fmt.Errorf("stopped task retention %s: must not be negative (0 keeps stopped tasks for %s)", o.StoppedTaskRetention, store.DefaultRetention)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	creds, err := loadCredentials(o)
	if err != nil {
		return nil, err
	}
	if o.TLSSelfSigned {
		if err := useSelfSigned(&o, time.Now()); err != nil {
			return nil, err
		}
	}
	var tlsConfig *tls.Config
	if o.TLSCert != "" || o.TLSKey != "" {
		if o.TLSCert == "" || o.TLSKey == "" {
			return nil, errors.New("TLS needs both a certificate and a key")
		}
		cert, err := boundedfile.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := checkTransport(o.Listen, tlsConfig != nil, o.InsecureHTTP); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.OpenWith(filepath.Join(o.DataDir, store.FileName), store.Options{Logger: o.Logger})
	if err != nil {
		return nil, err
	}

	issuer, err := roleIssuer(o)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{o: o, log: o.Logger, store: st, tls: tlsConfig, tel: telemetry.New(telemetry.Options{}),
		pruner: store.NewPruner(store.PrunerOptions{Store: st, Retention: o.StoppedTaskRetention, Logger: o.Logger})}
	auth := authz.NewAuthenticator("ecs", o.Region, o.AccountID, creds)
	// s.acs is set below, before Serve starts the deliverer.
	send := delivery.SenderFunc(func(arn string, msg any) error { return s.acs.Send(arn, msg) })
	s.deliver = delivery.New(delivery.Options{
		Store:             st,
		Sender:            send,
		RedeliverInterval: o.RedeliverInterval,
		Logger:            o.Logger,
		Roles:             issuer,
	})
	roleSource := ""
	if issuer != nil {
		roleSource = issuer.Source()
		s.refresh = delivery.NewRefresher(delivery.RefresherOptions{Store: st, Sender: send, Roles: issuer,
			Interval: refreshInterval(o), Logger: o.Logger})
		s.log.Info("task role credentials are issued", logging.KeySource, roleSource)
	}
	// s.api is set below, before Serve starts the driver.
	s.svcs = services.NewDriver(services.DriverOptions{Reconcile: func(ctx context.Context) error { return s.api.ReconcileServices(ctx) },
		Interval: o.ServiceInterval, Logger: o.Logger})
	s.api = ecsapi.New(ecsapi.Options{
		// Task writes the API commits are offered to the deliverer; those
		// a service scheduler reacts to wake it.
		Store:             services.Watch(delivery.Watch(st, s.deliver), s.svcs.Wake),
		OnServicesChanged: s.svcs.Wake,
		Region:            o.Region,
		AccountID:         o.AccountID,
		AdvertiseURL:      o.AdvertiseURL,
		Authenticate: func(r *http.Request) (func([]byte) (authz.Principal, error), error) {
			p, err := auth.Begin(r)
			if err != nil {
				return nil, err
			}
			return p.Finish, nil
		},
		// s.acs and s.tcs are set below, before any request can arrive.
		OnDeregister: func(arn string) {
			s.acs.Disconnect(arn)
			s.tcs.Disconnect(arn)
			s.tel.ForgetInstance(arn)
		},
		OnTaskStopped: s.tel.TaskStopped,
		Telemetry:     s.tel,
		Logger:        o.Logger,
		RoleSource:    roleSource,
	})
	s.acs = acsserver.New(acsserver.Options{
		Registry:              registry{s.api},
		Authenticate:          auth.Authenticate, // the upgrade GET has no body
		HeartbeatInterval:     o.HeartbeatInterval,
		MaxConnectionLifetime: o.MaxConnectionLifetime,
		Logger:                o.Logger,
		OnMessage:             s.onACSMessage,
		OnConnect:             s.deliver.Connected,
		OnSendCredentials:     s.onSendCredentials,
		RecordVersionInfo:     registry{s.api}.RecordVersionInfo,
	})
	s.tcs = tcsserver.New(tcsserver.Options{
		Registry:     tcsRegistry{api: s.api, store: st},
		Sink:         s.tel,
		Authenticate: auth.Authenticate, // the upgrade GET has no body
		VerifyFrame: func(r *http.Request, envelope []byte) (authz.Principal, error) {
			p, err := auth.Begin(r)
			if err != nil {
				return authz.Principal{}, err
			}
			return p.Finish(envelope)
		},
		HeartbeatInterval:     o.HeartbeatInterval,
		MaxConnectionLifetime: o.MaxConnectionLifetime,
		Logger:                o.Logger,
	})
	s.metrics = metrics.New(metrics.Options{
		Store: st, Telemetry: s.tel,
		ACSSessions: s.acs.Sessions, TCSSessions: s.tcs.Sessions,
		Unacknowledged: s.deliver.Unacknowledged,
		TCSFrames: func() (uint64, uint64, uint64) {
			st := s.tcs.Stats()
			return st.Accepted, st.Refused, st.Dropped
		},
	})
	// No ACS session survives a restart.
	if err := s.api.MarkAllDisconnected(); err != nil {
		st.Close()
		return nil, fmt.Errorf("reset agent connection state: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.acs)
	mux.Handle("GET /tcs/ws", s.tcs)
	if o.MetricsListen == "" {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	mux.Handle("/", s.metrics.InstrumentAPI(s.api, s.api.Operation))
	s.handler = mux
	return s, nil
}

// onACSMessage hands what agents send to delivery (task acks) and to the
// credentials refresher (credentials acks).
func (s *Server) onACSMessage(arn string, msg any) {
	s.deliver.HandleMessage(arn, msg)
	if s.refresh != nil {
		s.refresh.HandleMessage(arn, msg)
	}
}

// onSendCredentials: an agent that restarted asks for its tasks'
// credentials, which it keeps in memory only.
func (s *Server) onSendCredentials(arn string) {
	if s.refresh != nil {
		s.refresh.SendCredentials(arn)
	}
}

// Handler serves every route; for embedding in tests with httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Options.Listen and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (wrapped in TLS when configured) until ctx is done,
// then closes ACS sessions and shuts the HTTP server down gracefully. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := checkTransport(ln.Addr().String(), s.tls != nil, s.o.InsecureHTTP); err != nil {
		return err
	}
	scheme := "http"
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
		scheme = "https"
	} else if !isLoopback(ln.Addr().String()) {
		s.log.Warn("serving plain HTTP beyond loopback (-insecure-http): request signatures, task payloads and "+
			"their environment cross the network in clear, and anyone who can read them can replay them for 15 minutes; "+
			"use -tls-cert and -tls-key", logging.KeyAddr, ln.Addr().String())
	}
	advertise := s.o.AdvertiseURL
	if advertise == "" {
		advertise = "(from each request's Host)"
	}
	s.log.Info("control plane listening",
		logging.KeyAddr, ln.Addr().String(), logging.KeyURL, scheme+"://"+ln.Addr().String(),
		logging.KeyEndpoint, advertise, logging.KeyRegion, s.o.Region)

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       cmp.Or(s.o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	stopMetrics, err := s.serveMetrics()
	if err != nil {
		return err
	}
	defer stopMetrics()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Delivery, the pruner and the credentials refresher return when
	// their context ends.
	deliverCtx, stopDelivery := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	loops.Go(func() { _ = s.deliver.Run(deliverCtx) })
	loops.Go(func() { s.pruner.Run(deliverCtx) })
	loops.Go(func() { s.svcs.Run(deliverCtx) })
	if s.refresh != nil {
		loops.Go(func() { _ = s.refresh.Run(deliverCtx) })
	}
	defer func() {
		stopDelivery()
		loops.Wait()
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("control plane shutting down")
	// Hijacked websocket connections are not covered by Shutdown.
	s.acs.Close()
	s.tcs.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveMetrics serves GET /metrics on Options.MetricsListen, when set, until
// the returned stop is called.
func (s *Server) serveMetrics() (stop func(), err error) {
	if s.o.MetricsListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", s.o.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	s.log.Info("serving Prometheus metrics", logging.KeyAddr, ln.Addr().String(), logging.KeyURL, "http://"+ln.Addr().String()+"/metrics")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.metrics.Serve(ctx, ln, s.o.Profiling); err != nil {
			s.log.Error("metrics server stopped", logging.KeyError, err)
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// checkTransport refuses plain HTTP on an address beyond loopback unless
// insecure allows it.
func checkTransport(addr string, withTLS, insecure bool) error {
	if withTLS || insecure || isLoopback(addr) {
		return nil
	}
	return fmt.Errorf("listen address %s: %w", addr, ErrInsecureListen)
}

// isLoopback reports whether addr (host:port) listens on loopback only: a
// 127.0.0.0/8 or ::1 address, or "localhost". An empty host, 0.0.0.0 or any
// other name listens beyond it.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ACS returns the ACS server, for the parts of the control plane (and tests)
// that push messages to agents.
func (s *Server) ACS() *acsserver.Server { return s.acs }

// Telemetry returns what agents published over TCS, for tests.
func (s *Server) Telemetry() *telemetry.Store { return s.tel }

// Close ends ACS and TCS sessions and closes the store. It is safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.acs.Close()
		s.tcs.Close()
		s.closeErr = s.store.Close()
	})
	return s.closeErr
}
