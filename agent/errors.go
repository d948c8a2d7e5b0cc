package agent

import (
	"errors"

	"github.com/open-ecs/ecs-agent/statemanager"
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

// stateError makes a state file that needs the operator terminal: one that
// is damaged, foreign, from a newer agent, or holds a record this agent
// cannot read. Restarting reads the same file, and the agent never starts
// over on its own, so exit 5 with the message is the only useful outcome.
func stateError(err error) error {
	if errors.Is(err, statemanager.ErrCorrupt) {
		return terminal(err)
	}
	return err
}
