// Package wsserver is what the control plane's websocket endpoints (ACS in
// controlplane/acsserver, TCS in controlplane/tcsserver) share about
// admitting an agent: the unframed {"<code>": message} answer to a refused
// upgrade, and the mapping of the registry's instance check to the
// exception an agent acts on. Sessions, heartbeats and what frames mean stay
// in the protocol packages.
package wsserver

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/wsframe"
)

// Errors a registry returns from its instance check; each becomes the
// exception of the same name, which the agent acts on (an invalid cluster
// or instance stops it, an inactive instance waits an hour).
var (
	ErrInvalidCluster   = errors.New("invalid cluster")
	ErrInvalidInstance  = errors.New("invalid container instance")
	ErrInactiveInstance = errors.New("inactive container instance")
)

// Reject answers a refused upgrade with an unframed {"<code>": message}, the
// body ACS and TCS agents decode.
func Reject(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(wsframe.EncodeHandshakeError(code, message))
}

// RejectInstance answers an upgrade whose instance check failed with err:
// an *authz.DeniedError is 403 with its exception, the Err* values above
// their exceptions with 400, anything else a ServerException with 500.
// service ("ACS", "TCS") names the endpoint in the log line.
func RejectInstance(w http.ResponseWriter, log *slog.Logger, service string, err error) {
	var denied *authz.DeniedError
	if errors.As(err, &denied) {
		log.Warn(service+" handshake denied", logging.KeyReason, denied.Reason)
		Reject(w, http.StatusForbidden, denied.ErrorCode(), denied.ErrorMessage())
		return
	}
	log.Info(service+" handshake rejected", logging.KeyError, err)
	switch {
	case errors.Is(err, ErrInvalidCluster):
		Reject(w, http.StatusBadRequest, "InvalidClusterException", "Invalid cluster")
	case errors.Is(err, ErrInvalidInstance):
		Reject(w, http.StatusBadRequest, "InvalidInstanceException", "Invalid instance")
	case errors.Is(err, ErrInactiveInstance):
		Reject(w, http.StatusBadRequest, "InactiveInstanceException", "Container instance is inactive")
	default:
		Reject(w, http.StatusInternalServerError, "ServerException", "Internal server error")
	}
}
