package taskserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/open-ecs/ecs-agent/engine"
)

// The /stats routes serve the stats collector's newest sample of each
// container, in Docker's stats JSON (reference §9.2); the collector is
// the one reader of Docker's stats, shared with TCS.

// containerStats serves /vN/<id>/stats: the container's sample.
func (s *Server) containerStats(v version) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, c := s.endpoint(w, r, v)
		if c == nil {
			return
		}
		s.writeContainerStats(w, v.prefix, c)
	}
}

// taskStats serves /vN/<id>/task/stats: Docker ID → sample, for every
// container of the task; a container without a sample (not running) maps
// to null.
func (s *Server) taskStats(v version) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, _ := s.endpoint(w, r, v)
		if t == nil {
			return
		}
		s.writeTaskStats(w, v.prefix, t)
	}
}

func (s *Server) v2TaskStats(w http.ResponseWriter, r *http.Request) {
	if t := s.v2Caller(w, r); t != nil {
		s.writeTaskStats(w, v2Prefix, t)
	}
}

func (s *Server) v2ContainerStats(w http.ResponseWriter, r *http.Request) {
	t := s.v2Caller(w, r)
	if t == nil {
		return
	}
	c := containerByDockerID(t, r.PathValue("dockerID"))
	if c == nil {
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf("%s: container %s is not a container of task %s", v2Prefix, r.PathValue("dockerID"), t.ARN))
		return
	}
	s.writeContainerStats(w, v2Prefix, c)
}

func (s *Server) statsUnavailable(w http.ResponseWriter, prefix string) bool {
	if s.o.Stats != nil {
		return false
	}
	writeJSON(w, http.StatusServiceUnavailable, prefix+": container stats are not collected by this agent")
	return true
}

func (s *Server) writeContainerStats(w http.ResponseWriter, prefix string, c *engine.ContainerSnapshot) {
	if s.statsUnavailable(w, prefix) {
		return
	}
	raw, ok := s.o.Stats.LatestStats(c.DockerID)
	if !ok || c.DockerID == "" {
		writeJSON(w, http.StatusServiceUnavailable, fmt.Sprintf("%s: no stats of container %s yet: it is %s, and samples come "+
			"once a second while it runs", prefix, c.Name, c.KnownStatus))
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

func (s *Server) writeTaskStats(w http.ResponseWriter, prefix string, t *engine.TaskSnapshot) {
	if s.statsUnavailable(w, prefix) {
		return
	}
	out := map[string]json.RawMessage{}
	for _, c := range t.Containers {
		if c.DockerID == "" {
			continue
		}
		raw, ok := s.o.Stats.LatestStats(c.DockerID)
		if !ok {
			raw = json.RawMessage("null")
		}
		out[c.DockerID] = raw
	}
	writeJSON(w, http.StatusOK, out)
}
