package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
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

// backoff is an exponential backoff with up-to-jitter extra delay, owned by
// one goroutine.
type backoff struct {
	min, max   time.Duration
	multiplier float64
	jitter     float64
	current    time.Duration
}

func newBackoff(minD, maxD time.Duration, multiplier, jitter float64) *backoff {
	return &backoff{min: minD, max: maxD, multiplier: multiplier, jitter: jitter, current: minD}
}

func (b *backoff) next() time.Duration {
	d := b.current
	b.current = min(time.Duration(float64(b.current)*b.multiplier), b.max)
	return d + time.Duration(rand.Float64()*b.jitter*float64(d))
}

// sleepCtx waits d or until ctx ends, reporting whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
