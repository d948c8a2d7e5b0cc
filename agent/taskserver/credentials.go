package taskserver

import (
	"net/http"

	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Error codes of the credentials routes (reference §9.2).
const (
	codeNoID            = "NoIdInRequest"
	codeInvalidID       = "InvalidIdInRequest"
	codeUninitialized   = "CredentialsUninitialized"
	codeInternalError   = "InternalServerError"
	credentialsV1Prefix = "CredentialsV1Request"
	credentialsV2Prefix = "CredentialsV2Request"
)

// credentialsResponse is the body of a successful credentials request, the
// shape the AWS SDKs' container credential providers read.
type credentialsResponse struct {
	RoleArn         string `json:"RoleArn"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

// credentialsError is the body of a failed credentials request.
type credentialsError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *Server) credentialsV1(w http.ResponseWriter, r *http.Request) {
	s.serveCredentials(w, r, r.URL.Query().Get("id"), credentialsV1Prefix, "GetCredentials")
}

func (s *Server) credentialsV2(w http.ResponseWriter, r *http.Request) {
	s.serveCredentials(w, r, r.PathValue("id"), credentialsV2Prefix, "GetCredentialsV2")
}

// serveCredentials answers one credentials request and audits it.
func (s *Server) serveCredentials(w http.ResponseWriter, r *http.Request, id, prefix, event string) {
	status, body, owner := s.lookupCredentials(r, id, prefix)
	writeJSON(w, status, body)
	s.audit.record(r, status, owner, event)
}

// lookupCredentials decides a credentials request: the status, the body,
// and the task it was about, if any (for the audit log).
func (s *Server) lookupCredentials(r *http.Request, id, prefix string) (int, any, *engine.TaskSnapshot) {
	if id == "" {
		return http.StatusBadRequest, credentialsError{codeNoID, prefix + ": No Credential ID in the request"}, nil
	}
	notFound := credentialsError{codeInvalidID, prefix + ": Credentials not found"}
	tasks := s.o.Tasks.Snapshot()
	owner := taskWithCredentials(tasks, id)
	if owner == nil {
		return http.StatusBadRequest, notFound, nil
	}
	if caller := taskByAddress(tasks, remoteIP(r)); caller != nil && caller.ARN != owner.ARN {
		// The same answer as an unknown ID: a task learns nothing about
		// another task's credentials.
		s.log.Warn("a container asked for another task's credentials; refused",
			logging.KeyCallerTask, caller.ARN, logging.KeyTask, owner.ARN, logging.KeyAddr, r.RemoteAddr)
		return http.StatusBadRequest, notFound, owner
	}
	c, ok := s.o.Credentials.Get(id)
	if !ok {
		return http.StatusServiceUnavailable, credentialsError{codeUninitialized, prefix + ": Credentials uninitialized for ID"}, owner
	}
	if c.RoleType != credentials.RoleTask || c.TaskARN != owner.ARN {
		return http.StatusInternalServerError, credentialsError{codeInternalError, prefix + ": Credentials do not match the task"}, owner
	}
	return http.StatusOK, credentialsResponse{RoleArn: c.RoleARN, AccessKeyID: c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey, Token: c.SessionToken, Expiration: c.Expiration}, owner
}

// taskWithCredentials is the task whose task role credentials have that ID.
// Execution role IDs never match: containers must not get those.
func taskWithCredentials(tasks []engine.TaskSnapshot, id string) *engine.TaskSnapshot {
	for i := range tasks {
		if tasks[i].CredentialsID == id {
			return &tasks[i]
		}
	}
	return nil
}
