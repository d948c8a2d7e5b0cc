package dockerapi

import (
	"errors"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// dockerError is a Docker error classified as one of the runtime sentinels.
// Its message is Docker's own text, so operators see what the engine said,
// while callers match the sentinel with errors.Is.
type dockerError struct {
	kind error // a runtime.Err* sentinel
	err  error // what the Docker client returned
}

// Error is Docker's text; an authentication failure is named as such
// first, because registries word it in many ways.
func (e *dockerError) Error() string {
	if e.kind == runtime.ErrAuth && !strings.Contains(e.err.Error(), runtime.ErrAuth.Error()) {
		return runtime.ErrAuth.Error() + ": " + e.err.Error()
	}
	return e.err.Error()
}

func (e *dockerError) Unwrap() []error { return []error{e.kind, e.err} }

// authMarkers are the fragments registries and the engine use when a pull
// is refused for lack of (valid) credentials. The engine does not always set
// a 401 status: errors found inside the pull stream carry only text.
var authMarkers = []string{
	"unauthorized",
	"authentication required",
	"no basic auth credentials",
	"incorrect username or password",
}

// isAuthText reports whether msg is a registry authentication failure.
func isAuthText(msg string) bool {
	msg = strings.ToLower(msg)
	for _, m := range authMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// classify maps a Docker client error to the runtime sentinels. conflict
// says whether a 409 means "name already in use" for this call (only the
// create calls); elsewhere a 409 stays unclassified.
func classify(err error, conflict bool) error {
	if err == nil {
		return nil
	}
	var de *dockerError
	if errors.As(err, &de) {
		return err
	}
	switch {
	case cerrdefs.IsNotFound(err):
		return &dockerError{kind: runtime.ErrNotFound, err: err}
	case conflict && cerrdefs.IsConflict(err):
		return &dockerError{kind: runtime.ErrConflict, err: err}
	case cerrdefs.IsUnauthorized(err) || isAuthText(err.Error()):
		return &dockerError{kind: runtime.ErrAuth, err: err}
	}
	return err
}
