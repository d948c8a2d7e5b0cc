package backoff

import "time"

// Reconnect is the rule every long-lived session (ACS, TCS) follows between
// one connection and the next. Only the length of the connection that just
// ended decides:
//
//   - a connection that stayed up for at least StableAfter (plus a random
//     part up to StableJitter) was a healthy session: the backoff is reset
//     and the next dial is immediate, so an ordinary server-side close or a
//     connection reaching its maximum lifetime costs no delay;
//   - anything shorter, including a failed dial (connected = 0), waits the
//     next jittered backoff delay, however "normal" the close code was.
//
// The close code is deliberately not trusted: a server or proxy that accepts
// every upgrade and closes at once with 1000, 1001, 1006 or 1011 would
// otherwise be redialled in a tight loop (a reconnect storm), which is what
// resetting on those codes did.
//
// A Reconnect is owned by the session goroutine, like its Backoff.
type Reconnect struct {
	bo           *Backoff
	stableAfter  time.Duration
	stableJitter time.Duration
}

// NewReconnect returns the rule over bo: a connection up for at least
// stableAfter plus up to stableJitter counts as healthy.
func NewReconnect(bo *Backoff, stableAfter, stableJitter time.Duration) *Reconnect {
	return &Reconnect{bo: bo, stableAfter: stableAfter, stableJitter: stableJitter}
}

// Next returns how long to wait before the next dial, after a connection
// that stayed up for connected (0 when the dial or the steps before it
// failed).
func (r *Reconnect) Next(connected time.Duration) time.Duration {
	if connected > 0 && connected >= Jittered(r.stableAfter, r.stableJitter) {
		r.bo.Reset()
		return 0
	}
	return r.bo.Next()
}

// Reset starts the backoff again from its minimum, for a wait decided
// elsewhere (such as an hour for a deregistered instance).
func (r *Reconnect) Reset() { r.bo.Reset() }
