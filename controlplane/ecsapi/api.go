// Package ecsapi serves the ECS JSON 1.1 API (the protocol of the `aws ecs`
// CLI and the AWS SDKs): POST / with X-Amz-Target
// AmazonEC2ContainerServiceV20141113.<Operation>, a JSON body, and errors as
// {"__type": "<Code>", "message": "..."}.
//
// Every request is authenticated first (SigV4 through Options.Authenticate),
// then dispatched to one handler per operation. Handlers validate their input
// the way ECS does (InvalidParameterException naming the field), and run
// their reads and writes inside one store transaction so that concurrent
// requests cannot interleave a check and the write that depends on it.
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
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

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
	// Authenticate checks the request signature; body is the payload read
	// from r. An error with ErrorCode, ErrorMessage and HTTPStatusCode
	// methods (such as *sigv4.Error) is sent as it says; any other is a
	// ServerException. nil disables authentication (tests only).
	Authenticate func(r *http.Request, body []byte) error
	// OnDeregister is called after a container instance became INACTIVE,
	// e.g. to close its ACS sessions. Optional.
	OnDeregister func(containerInstanceARN string)
	Logger       *slog.Logger
	Now          func() time.Time // nil means time.Now
}

// opFunc handles one operation. body is the raw JSON input.
type opFunc func(ctx context.Context, r *http.Request, body []byte) (any, error)

// API is the ECS JSON API handler.
type API struct {
	o   Options
	log *slog.Logger
	ops map[string]opFunc
}

// New returns the API handler.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{o: o, log: o.Logger.With(logging.KeyComponent, "ecsapi")}
	a.ops = map[string]opFunc{
		"CreateCluster":                 a.createCluster,
		"DeleteCluster":                 a.deleteCluster,
		"DescribeClusters":              a.describeClusters,
		"ListClusters":                  a.listClusters,
		"RegisterContainerInstance":     a.registerContainerInstance,
		"DeregisterContainerInstance":   a.deregisterContainerInstance,
		"DescribeContainerInstances":    a.describeContainerInstances,
		"ListContainerInstances":        a.listContainerInstances,
		"UpdateContainerInstancesState": a.updateContainerInstancesState,
		"DiscoverPollEndpoint":          a.discoverPollEndpoint,
	}
	for _, more := range []map[string]opFunc{a.taskDefinitionOps(), a.taskOps()} {
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

	resp, err := a.serve(r, log)
	if err != nil {
		wire, internal := toWireError(err)
		if internal {
			log.Error("request failed", logging.KeyError, err)
		} else {
			log.Debug("request rejected", logKeyCode, wire.Code, logging.KeyError, wire.Message)
		}
		writeJSON(w, wire.Status, map[string]string{"__type": wire.Code, "message": wire.Message})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) serve(r *http.Request, log *slog.Logger) (any, error) {
	if r.Method != http.MethodPost {
		return nil, clientErr(CodeUnknownOperation, "Only POST is supported.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, clientErr(CodeSerialization, "Could not read the request body.")
	}
	if len(body) > maxBodyBytes {
		return nil, clientErr(CodeSerialization, "The request body is too large.")
	}
	if a.o.Authenticate != nil {
		if err := a.o.Authenticate(r, body); err != nil {
			return nil, err
		}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	fn := a.ops[op]
	if !ok || fn == nil {
		return nil, clientErr(CodeUnknownOperation, "")
	}
	log.Debug("request", logKeyOperation, op)
	return fn(r.Context(), r, body)
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
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return clientErr(CodeSerialization, "Unexpected value type for field %q.", typeErr.Field)
		}
		return clientErr(CodeSerialization, "The request body is not valid JSON.")
	}
	return nil
}

func (a *API) now() time.Time { return a.o.Now().UTC() }

// internal wraps an unexpected (store) error for the ServerException path.
func internal(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}
