// Package ecsapi serves the ECS JSON 1.1 API (the protocol of the `aws ecs`
// CLI and the AWS SDKs): POST / with X-Amz-Target
// AmazonEC2ContainerServiceV20141113.<Operation>, a JSON body, and errors as
// {"__type": "<Code>", "message": "..."}.
//
// Every request is authenticated first (SigV4 through Options.Authenticate):
// its headers before the body is read, the body then with a size limit and
// a read deadline, and the signature over it. The principal that signed it
// must be allowed the operation (package authz); handlers that act on a
// container instance ask authz again with the instance and its owner.
// Requests are then dispatched to one handler per operation. Handlers
// validate their input the way ECS does (InvalidParameterException naming
// the field), and run their reads and writes inside one store transaction so
// that concurrent requests cannot interleave a check and the write that
// depends on it.
//
// DiscoverPollEndpoint answers with the control plane's own base URL:
//
//	endpoint               = <advertise URL>       (the agent dials <endpoint>/ws for ACS)
//	telemetryEndpoint      = <advertise URL>/tcs   (the agent dials .../tcs/ws for TCS)
//	serviceConnectEndpoint = <advertise URL>
//
// When no advertise URL is configured, it is derived from the Host header the
// client used (https when the request came over TLS), which is the address
// the agent can demonstrably reach.
package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Log field names beyond the shared ones.
const (
	logKeyOperation = "operation"
	logKeyCode      = "code"
)

// Options configure the API.
type Options struct {
	Store     store.Store
	Region    string
	AccountID string
	// AdvertiseURL is the base URL agents reach this control plane at;
	// "" derives it from each request's Host.
	AdvertiseURL string
	// Authenticate checks the request's headers before its body is read
	// and returns the function that completes the check with the body and
	// names the principal (authz.Authenticator.Begin and Pending.Finish).
	// An error with ErrorCode, ErrorMessage and HTTPStatusCode methods (such
	// as *sigv4.Error) is sent as it says; any other is a ServerException.
	// nil disables authentication: every request is an admin's (tests only).
	Authenticate func(r *http.Request) (finish func(body []byte) (authz.Principal, error), err error)
	// OnDeregister is called after a container instance became INACTIVE,
	// e.g. to close its ACS sessions. Optional.
	OnDeregister func(containerInstanceARN string)
	// OnTaskStopped is called after an agent's report recorded a task
	// STOPPED, e.g. to end its telemetry series. Optional.
	OnTaskStopped func(taskARN string)
	// Telemetry is what agents published over TCS, for the health members
	// of DescribeTasks and DescribeContainerInstances. nil shows every
	// health as unknown.
	Telemetry TelemetrySource
	Logger    *slog.Logger
	Now       func() time.Time // nil means time.Now
	// BodyReadTimeout bounds reading a request's body once its headers
	// are authenticated; 0 means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// RoleSource says where task role credentials come from (an STS
	// endpoint, a roles file); "" means nowhere, and a task with a
	// taskRoleArn or executionRoleArn is not placed.
	RoleSource string
	// OnServicesChanged is called after a service was created, updated or
	// deleted, to wake the service scheduler. Optional.
	OnServicesChanged func()
}

// opFunc handles one operation. body is the raw JSON input.
type opFunc func(ctx context.Context, r *http.Request, body []byte) (any, error)

// API is the ECS JSON API handler.
type API struct {
	o   Options
	log *slog.Logger
	ops map[string]opFunc
	// attrMaps remembers the instances' attribute maps for placement.
	attrMaps attributeMaps
	// roundBudget is roundTxBudget; tests lift it to count transactions.
	roundBudget time.Duration
	// requests counts the API requests waiting for the write lock
	// (update); the service rounds give way to them, waiting at most
	// roundYield (roundYieldLimit; tests shorten it) before a transaction.
	requests   requestGate
	roundYield time.Duration
}

// New returns the API handler.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	a := &API{o: o, log: o.Logger.With(logging.KeyComponent, "ecsapi"), roundBudget: roundTxBudget, roundYield: roundYieldLimit}
	a.ops = map[string]opFunc{
		"CreateCluster":                 a.createCluster,
		"DeleteCluster":                 a.deleteCluster,
		"DescribeClusters":              a.describeClusters,
		"ListClusters":                  a.listClusters,
		"UpdateCluster":                 a.updateCluster,
		"UpdateClusterSettings":         a.updateClusterSettings,
		"RegisterContainerInstance":     a.registerContainerInstance,
		"DeregisterContainerInstance":   a.deregisterContainerInstance,
		"DescribeContainerInstances":    a.describeContainerInstances,
		"ListContainerInstances":        a.listContainerInstances,
		"UpdateContainerInstancesState": a.updateContainerInstancesState,
		"DiscoverPollEndpoint":          a.discoverPollEndpoint,
	}
	for _, more := range []map[string]opFunc{a.taskDefinitionOps(), a.taskOps(), a.tagOps(), a.attributeOps(), a.serviceOps()} {
		for name, op := range more {
			a.ops[name] = op
		}
	}
	return a
}

// ServeHTTP implements http.Handler for POST /.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	w.Header().Set("X-Amzn-RequestId", requestID)
	log := a.log.With(logging.KeyRequestID, requestID)

	body := &eofReader{ReadCloser: r.Body}
	r.Body = body
	resp, err := a.serve(w, r, log)
	if !body.sawEOF && r.ContentLength != 0 {
		// The body was refused unread (or only partly read): close the
		// connection after answering, or net/http would read up to 256 KiB
		// of it, with no deadline, before sending the answer.
		w.Header().Set("Connection", "close")
	}
	if err != nil {
		wire, internal := toWireError(err)
		var denied *authz.DeniedError
		switch {
		case internal:
			log.Error("request failed", logging.KeyError, err)
		case errors.As(err, &denied):
			log.Warn("request denied", logging.KeyAccessKeyID, denied.Principal.AccessKeyID,
				logKeyOperation, denied.Action, logging.KeyResource, denied.Resource, logging.KeyReason, denied.Reason)
		default:
			log.Debug("request rejected", logKeyCode, wire.Code, logging.KeyError, wire.Message)
		}
		out := map[string]any{"__type": wire.Code, "message": wire.Message}
		if wire.ResourceIDs != nil {
			out["resourceIds"] = wire.ResourceIDs
		}
		writeJSON(w, wire.Status, out)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, log *slog.Logger) (any, error) {
	if r.Method != http.MethodPost {
		return nil, clientErr(CodeUnknownOperation, "Only POST is supported.")
	}
	var finish func([]byte) (authz.Principal, error)
	if a.o.Authenticate != nil {
		var err error
		if finish, err = a.o.Authenticate(r); err != nil {
			return nil, err
		}
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return nil, err
	}
	principal := authz.Principal{ARN: "unauthenticated", Role: authz.RoleAdmin}
	if finish != nil {
		if principal, err = finish(body); err != nil {
			return nil, err
		}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	fn := a.ops[op]
	if !ok || fn == nil {
		return nil, clientErr(CodeUnknownOperation, "")
	}
	if err := principal.Authorize(op, nil); err != nil {
		return nil, err
	}
	log.Debug("request", logKeyOperation, op, logging.KeyAccessKeyID, principal.AccessKeyID)
	return fn(authz.NewContext(r.Context(), principal), r, body)
}

// readBody reads the body of an authenticated request: at most
// maxBodyBytes, within Options.BodyReadTimeout, so that a slow or endless
// sender holds neither a goroutine nor a large buffer for long.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, errBodyTooLarge()
	}
	rc := http.NewResponseController(w)
	// Not every ResponseWriter has a connection (tests' recorders); the
	// size limit still holds there.
	if err := rc.SetReadDeadline(time.Now().Add(a.o.BodyReadTimeout)); err == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, &Error{Code: CodeRequestTimeout, Status: http.StatusRequestTimeout,
			Message: fmt.Sprintf("The request body did not arrive within %s.", a.o.BodyReadTimeout)}
	case err != nil:
		return nil, clientErr(CodeSerialization, "Could not read the request body.")
	case len(body) > maxBodyBytes:
		return nil, errBodyTooLarge()
	}
	return body, nil
}

func errBodyTooLarge() *Error {
	return clientErr(CodeSerialization, "The request body is too large: at most %d bytes are accepted.", maxBodyBytes)
}

// principalOf returns the principal serve put in ctx; without one, a
// principal that may do nothing (fail closed).
func principalOf(ctx context.Context) authz.Principal {
	if p, ok := authz.FromContext(ctx); ok {
		return p
	}
	return authz.Principal{ARN: "unresolved", Role: authz.RoleNone}
}

// eofReader records whether a request body was read to its end.
type eofReader struct {
	io.ReadCloser
	sawEOF bool
}

func (r *eofReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		r.sawEOF = true
	}
	return n, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(status)
	// The client may be gone; there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// decode unmarshals the request body into v. An empty body is "{}".
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if extra := unsupportedMembers(body, v); len(extra) > 0 {
		return invalidParam("%s %s not supported by this control plane: remove %s from the request.",
			strings.Join(extra, ", "), pluralIs(len(extra)), pluralIt(len(extra)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return clientErr(CodeSerialization, "Unexpected value type for field %q.", typeErr.Field)
		}
		return clientErr(CodeSerialization, "The request body is not valid JSON.")
	}
	return nil
}

func pluralIs(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func pluralIt(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func (a *API) now() time.Time { return a.o.Now().UTC() }

// internal wraps an unexpected (store) error for the ServerException path.
func internal(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}

// Operation names the operation r asks for (from X-Amz-Target), or "" when
// it names none this API serves: request metrics label with it, so their
// label values are never arbitrary client input.
func (a *API) Operation(r *http.Request) string {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if _, known := a.ops[op]; !ok || !known {
		return ""
	}
	return op
}
