package taskserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/open-ecs/ecs-agent/engine"
)

// version is one of the endpoint-ID routes' versions.
type version struct {
	name   string // "v3" or "v4"
	prefix string // the start of its error messages
}

var (
	v3 = version{name: "v3", prefix: "V3 container metadata handler"}
	v4 = version{name: "v4", prefix: "V4 container metadata handler"}
)

const v2Prefix = "V2 task metadata handler"

// taskByAddress is the task one of whose running containers has the
// address ip on one of its networks (bridge mode), or nil: a host-mode
// caller has the host's address and no task of its own. Only running
// containers count: Docker hands a stopped container's address to the
// next one, possibly before the engine has seen the stop.
func taskByAddress(tasks []engine.TaskSnapshot, ip string) *engine.TaskSnapshot {
	if ip == "" {
		return nil
	}
	for i := range tasks {
		for _, c := range tasks[i].Containers {
			if c.KnownStatus != engine.StatusRunning {
				continue
			}
			for _, n := range c.Networks {
				if n.IPv4Address == ip || n.IPv6Address == ip {
					return &tasks[i]
				}
			}
		}
	}
	return nil
}

// byEndpointID finds the task and container of a v3/v4 endpoint ID.
func byEndpointID(tasks []engine.TaskSnapshot, id string) (*engine.TaskSnapshot, *engine.ContainerSnapshot) {
	for i := range tasks {
		for j := range tasks[i].Containers {
			if c := &tasks[i].Containers[j]; c.EndpointID == id && id != "" {
				return &tasks[i], c
			}
		}
	}
	return nil, nil
}

func containerByDockerID(t *engine.TaskSnapshot, id string) *engine.ContainerSnapshot {
	for i := range t.Containers {
		if c := &t.Containers[i]; c.DockerID == id && id != "" {
			return c
		}
	}
	return nil
}

// v2Caller is the caller's task, or an error response already written.
func (s *Server) v2Caller(w http.ResponseWriter, r *http.Request) *engine.TaskSnapshot {
	ip := remoteIP(r)
	t := taskByAddress(s.o.Tasks.Snapshot(), ip)
	if t == nil {
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf("%s: unable to get task arn from request: no task has a container with address %s "+
			"(the v2 routes serve bridge-mode containers; use ECS_CONTAINER_METADATA_URI_V4)", v2Prefix, ip))
	}
	return t
}

func (s *Server) v2Task(withTags bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := s.v2Caller(w, r)
		if t == nil {
			return
		}
		resp := s.taskResponse(t)
		if withTags {
			s.addTags(r.Context(), &resp)
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func (s *Server) v2Container(w http.ResponseWriter, r *http.Request) {
	t := s.v2Caller(w, r)
	if t == nil {
		return
	}
	c := containerByDockerID(t, r.PathValue("dockerID"))
	if c == nil {
		writeJSON(w, http.StatusBadRequest, fmt.Sprintf("%s: container %s is not a container of task %s", v2Prefix, r.PathValue("dockerID"), t.ARN))
		return
	}
	writeJSON(w, http.StatusOK, containerResponse(c))
}

// endpoint is the task and container of the request's endpoint ID, or an
// error response already written.
func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, v version) (*engine.TaskSnapshot, *engine.ContainerSnapshot) {
	id := r.PathValue("endpointID")
	t, c := byEndpointID(s.o.Tasks.Snapshot(), id)
	if t == nil {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: unable to get task arn from request: no container has the endpoint ID %q", v.prefix, id))
	}
	return t, c
}

func (s *Server) container(v version) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, c := s.endpoint(w, r, v)
		if c == nil {
			return
		}
		if v == v4 {
			writeJSON(w, http.StatusOK, containerResponseV4(c))
			return
		}
		writeJSON(w, http.StatusOK, containerResponse(c))
	}
}

func (s *Server) task(v version, withTags bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, _ := s.endpoint(w, r, v)
		if t == nil {
			return
		}
		if v == v4 {
			resp := s.taskResponseV4(t)
			if withTags {
				s.addTags(r.Context(), &resp.TaskResponse)
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
		resp := s.taskResponse(t)
		if withTags {
			s.addTags(r.Context(), &resp)
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// addTags fills in the task's and the container instance's tags from ECS.
// A lookup that fails leaves its tags out and says why in Errors, as the
// Amazon agent does, rather than fail the whole request.
func (s *Server) addTags(ctx context.Context, resp *TaskResponse) {
	ctx, cancel := context.WithTimeout(ctx, tagsTimeout)
	defer cancel()
	for _, q := range []struct {
		field, arn string
		dst        *map[string]string
	}{
		{"TaskTags", resp.TaskARN, &resp.TaskTags},
		{"ContainerInstanceTags", s.o.ContainerInstanceARN, &resp.ContainerInstanceTags},
	} {
		if s.o.Tags == nil {
			resp.Errors = append(resp.Errors, ErrorResponse{ErrorField: q.field, ErrorCode: "TagsUnavailable",
				ErrorMessage: "this agent has no ECS client to read tags with", ResourceARN: q.arn})
			continue
		}
		tags, err := s.o.Tags.ListTags(ctx, q.arn)
		if err != nil {
			resp.Errors = append(resp.Errors, tagsError(q.field, q.arn, err))
			continue
		}
		*q.dst = tags
	}
}

func tagsError(field, arn string, err error) ErrorResponse {
	e := ErrorResponse{ErrorField: field, ErrorCode: "ListTagsForResourceFailed", ErrorMessage: err.Error(), ResourceARN: arn}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.ErrorCode, e.ErrorMessage = api.ErrorCode(), api.ErrorMessage()
	}
	var withStatus interface{ HTTPStatusCode() int }
	if errors.As(err, &withStatus) {
		e.StatusCode = withStatus.HTTPStatusCode()
	}
	var withID interface{ ServiceRequestID() string }
	if errors.As(err, &withID) {
		e.RequestID = withID.ServiceRequestID()
	}
	return e
}
