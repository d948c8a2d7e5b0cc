// Package introspection serves the agent's local read-only HTTP API
// (127.0.0.1:51678 by default) with the incumbent's v1 shapes:
//
//	GET /             {"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}
//	GET /v1/metadata  {"Cluster","ContainerInstanceArn","Version"}
//	GET /v1/tasks     {"Tasks":[...]}; ?dockerid= or ?taskarn= for one task
//	GET /license      license text
//
// Handlers read the latest published Snapshot through an atomic pointer and,
// for /v1/tasks, call Options.Tasks, which returns copies of the engine's
// state; a slow client never holds up the engine. Other paths get 404 and
// other methods 405.
package introspection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	ecsagent "github.com/open-ecs/ecs-agent"
)

// The incumbent's read and write timeouts.
const (
	readTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
	// shutdownTimeout bounds the graceful stop so agent shutdown stays quick.
	shutdownTimeout = 2 * time.Second
)

// shortDockerIDLen is the length up to which a dockerid query is a prefix.
const shortDockerIDLen = 12

// DefaultLicense is served on /license when Options.License is empty: the
// project's LICENSE file (Apache License 2.0), embedded at build time.
var DefaultLicense = ecsagent.License

const logKeyError = "error"

// Options configures a Server.
type Options struct {
	Logger  *slog.Logger // nil discards
	License string       // "" = DefaultLicense
	// Tasks, if set, is called on every /v1/tasks request for the current
	// tasks (e.g. TaskResponses of the engine's Snapshot, which returns
	// copies); it replaces Snapshot.Tasks. It must not block on the engine.
	Tasks func() []TaskResponse
}

// Server is the introspection HTTP server.
type Server struct {
	snap    atomic.Pointer[Snapshot]
	logger  *slog.Logger
	license string
	tasks   func() []TaskResponse
	handler http.Handler
}

// New returns a server with no snapshot; until Publish is called the data
// endpoints answer 503.
func New(o Options) *Server {
	s := &Server{logger: o.Logger, license: o.License, tasks: o.Tasks}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.license == "" {
		s.license = DefaultLicense
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleRoot)
	mux.HandleFunc("GET /v1/metadata", s.handleMetadata)
	mux.HandleFunc("GET /v1/tasks", s.handleTasks)
	mux.HandleFunc("GET /license", s.handleLicense)
	s.handler = mux
	return s
}

// Publish replaces the served snapshot. The caller must not modify snap
// afterwards.
func (s *Server) Publish(snap *Snapshot) { s.snap.Store(snap) }

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is cancelled, then shuts down gracefully. It
// returns nil after a cancel and the error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:      s.handler,
		ReadTimeout:  readTimeout,
		WriteTimeout: writeTimeout,
		ErrorLog:     slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("introspection server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("introspection server on %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.logger.Error("introspection: encode response", logKeyError, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) handleRoot(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, struct{ AvailableCommands []string }{
		AvailableCommands: []string{"/v1/metadata", "/v1/tasks", "/license"},
	})
}

func (s *Server) current(w http.ResponseWriter) *Snapshot {
	snap := s.snap.Load()
	if snap == nil {
		// The agent starts this server after registration, so this is only
		// reachable in a narrow start-up window or in embedding tests.
		http.Error(w, "agent is not registered yet", http.StatusServiceUnavailable)
	}
	return snap
}

func (s *Server) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	if snap := s.current(w); snap != nil {
		s.writeJSON(w, http.StatusOK, snap.Metadata)
	}
}

func (s *Server) handleLicense(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.license))
}

func (s *Server) handleTasks(w http.ResponseWriter, r *http.Request) {
	snap := s.current(w)
	if snap == nil {
		return
	}
	all := snap.Tasks
	if s.tasks != nil {
		all = s.tasks()
	}
	q := r.URL.Query()
	dockerID, taskARN := q.Get("dockerid"), q.Get("taskarn")
	switch {
	case dockerID != "" && taskARN != "":
		s.writeJSON(w, http.StatusBadRequest, TaskResponse{})
	case dockerID != "":
		task, status := findByDockerID(all, dockerID)
		s.writeJSON(w, status, task)
	case taskARN != "":
		for _, t := range all {
			if t.Arn == taskARN {
				s.writeJSON(w, http.StatusOK, t)
				return
			}
		}
		s.writeJSON(w, http.StatusNotFound, TaskResponse{})
	default:
		tasks := all
		if tasks == nil {
			tasks = []TaskResponse{} // {"Tasks":[]}, never null
		}
		s.writeJSON(w, http.StatusOK, TasksResponse{Tasks: tasks})
	}
}

// findByDockerID matches a full ID exactly and a short one (up to 12
// characters) as a prefix; a short ID matching several tasks is a 400.
func findByDockerID(tasks []TaskResponse, id string) (TaskResponse, int) {
	var found *TaskResponse
	for i := range tasks {
		for _, c := range tasks[i].Containers {
			match := c.DockerID == id
			if len(id) <= shortDockerIDLen {
				match = strings.HasPrefix(c.DockerID, id)
			}
			if !match {
				continue
			}
			if found != nil && found.Arn != tasks[i].Arn {
				return TaskResponse{}, http.StatusBadRequest
			}
			found = &tasks[i]
		}
	}
	if found == nil {
		return TaskResponse{}, http.StatusNotFound
	}
	return *found, http.StatusOK
}
