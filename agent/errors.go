package agent

import (
	"errors"
)

// ErrTerminal marks failures that a restart cannot fix (bad configuration,
// rejected credentials, an engine too old, a state file that needs an
// operator). cmd/ecs-agent exits 5 for them, which tells ecs-init and
// systemd units not to restart; every other error exits 1 and is retried.
var ErrTerminal = errors.New("terminal error")

// terminal wraps err so that errors.Is(err, ErrTerminal) holds while the
// message stays the original one.
func terminal(err error) error {
	if err == nil || errors.Is(err, ErrTerminal) {
		return err
	}
	return terminalError{err}
}

type terminalError struct{ err error }

func (e terminalError) Error() string { return e.err.Error() }
func (e terminalError) Unwrap() []error {
	return []error{e.err, ErrTerminal}
}
