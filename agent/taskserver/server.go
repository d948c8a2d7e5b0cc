// Package taskserver is the task metadata and credentials endpoint that
// containers call (reference §9.2): 127.0.0.1:51679 by default
// (ECS_TASK_METADATA_ADDR), reached by bridge-mode containers at
// 169.254.170.2:80 through ecs-init's NAT rules and by host-mode containers
// on the host's loopback.
//
//	GET /v1/credentials?id=<id>, /v2/credentials/<id>   the task role's credentials
//	GET /v2/metadata[/], /v2/metadataWithTags           the caller's task (by source address)
//	GET /v2/metadata/<dockerId>, /v2/stats[/<dockerId>]
//	GET /v3/<endpointId>[/task|/taskWithTags|/stats|/task/stats]
//	GET /v4/<endpointId>[/task|/taskWithTags|/stats|/task/stats]
//
// The server reads the engine's snapshots, the in-memory credentials store
// and the stats collector; it never locks engine state. Every request is
// rate limited per caller (ECS_TASK_METADATA_RPS_LIMIT); every credentials
// request is written to the audit log without its secrets.
//
// Who may read what: a credentials ID is unguessable and is only given to
// the containers of its task, in AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
// A caller whose source address is a container of a known task (bridge
// mode) may moreover only read its own task's credentials: another task's
// ID answers 400 InvalidIdInRequest, as an unknown one does. Host-mode
// callers share the host's address, so for them the ID alone decides.
// The execution role's credentials are for the agent, never served.
package taskserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// The incumbent's read and write timeouts.
const (
	readTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
	// shutdownTimeout bounds the graceful stop so agent shutdown stays quick.
	shutdownTimeout = 2 * time.Second
	// tagsTimeout bounds the ECS calls of a taskWithTags request, inside
	// the write timeout.
	tagsTimeout = 3 * time.Second
)

// Tasks is what the server reads of the task engine.
type Tasks interface {
	Snapshot() []engine.TaskSnapshot
}

// Credentials is what the server reads of the credentials store.
type Credentials interface {
	Get(id string) (credentials.Credentials, bool)
}

// Stats is what the /stats routes read of the stats collector: the newest
// sample of a running container, as Docker's stats JSON.
type Stats interface {
	LatestStats(dockerID string) (json.RawMessage, bool)
}

// Tags lists the tags of an ECS resource (ListTagsForResource), for the
// taskWithTags routes.
type Tags interface {
	ListTags(ctx context.Context, resourceARN string) (map[string]string, error)
}

// Options configure a Server. Tasks and Credentials are required.
type Options struct {
	Tasks       Tasks
	Credentials Credentials
	Stats       Stats // nil: the /stats routes answer 503
	Tags        Tags  // nil: taskWithTags reports in Errors that tags are unavailable

	Cluster              string
	ContainerInstanceARN string
	AvailabilityZone     string // "" leaves it out (ECS_DISABLE_TASK_METADATA_AZ)

	// RateLimit and Burst bound each caller's requests
	// (ECS_TASK_METADATA_RPS_LIMIT); 0 means 40 and 60.
	RateLimit float64
	Burst     int
	// Audit receives one line per credentials request; nil writes none.
	Audit  io.Writer
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the task metadata and credentials HTTP server.
type Server struct {
	o       Options
	log     *slog.Logger
	audit   *auditLog
	limiter *limiter
	handler http.Handler
}

// New builds the server; it serves nothing until Serve.
func New(o Options) (*Server, error) {
	if o.Tasks == nil || o.Credentials == nil {
		return nil, errors.New("taskserver: Options.Tasks and Options.Credentials are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 40
	}
	if o.Burst <= 0 {
		o.Burst = 60
	}
	s := &Server{
		o:       o,
		log:     o.Logger.With(logging.KeyComponent, "taskserver"),
		limiter: newLimiter(rate.Limit(o.RateLimit), o.Burst, o.Now),
	}
	s.audit = newAuditLog(o.Audit, o.Cluster, o.ContainerInstanceARN, o.Now, s.log)
	s.handler = s.limited(s.routes())
	return s, nil
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is cancelled, then shuts down gracefully. It
// returns nil after a cancel and the error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:      s.handler,
		ReadTimeout:  readTimeout,
		WriteTimeout: writeTimeout,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("task metadata endpoint listening", logging.KeyAddr, ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("task metadata endpoint on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("task metadata endpoint on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/credentials", s.credentialsV1)
	mux.HandleFunc("GET /v2/credentials", s.credentialsV2)
	mux.HandleFunc("GET /v2/credentials/{id...}", s.credentialsV2)

	mux.HandleFunc("GET /v2/metadata", s.v2Task(false))
	mux.HandleFunc("GET /v2/metadata/{$}", s.v2Task(false))
	mux.HandleFunc("GET /v2/metadataWithTags", s.v2Task(true))
	mux.HandleFunc("GET /v2/metadata/{dockerID}", s.v2Container)
	mux.HandleFunc("GET /v2/stats", s.v2TaskStats)
	mux.HandleFunc("GET /v2/stats/{$}", s.v2TaskStats)
	mux.HandleFunc("GET /v2/stats/{dockerID}", s.v2ContainerStats)

	for _, v := range []version{v3, v4} {
		p := "GET /" + v.name + "/{endpointID}"
		mux.HandleFunc(p, s.container(v))
		mux.HandleFunc(p+"/task", s.task(v, false))
		mux.HandleFunc(p+"/taskWithTags", s.task(v, true))
		mux.HandleFunc(p+"/stats", s.containerStats(v))
		mux.HandleFunc(p+"/task/stats", s.taskStats(v))
	}
	mux.HandleFunc("/", s.notFound)
	return mux
}

// notFound answers paths the server does not have, and the ones of the
// Amazon agent that this one does not implement (associations, task
// protection, fault injection), in the metadata error shape.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s is not served by this agent's task metadata endpoint", r.URL.Path))
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `"internal error"`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// remoteIP is the caller's address without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
