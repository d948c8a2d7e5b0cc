// Package backoff holds the exponential backoff with jitter that every
// reconnecting or retrying loop of the agent uses, and a context-aware wait.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff with multiplicative jitter. It is owned
// by one goroutine (the loop that retries), so it has no lock.
type Backoff struct {
	min, max   time.Duration
	multiplier float64
	jitter     float64 // fraction of the delay added at random: 0.2 = up to +20%
	current    time.Duration
}

// New returns a backoff that starts at minDelay and grows by multiplier up to
// maxDelay, each delay lengthened by up to jitter×delay at random.
func New(minDelay, maxDelay time.Duration, multiplier, jitter float64) *Backoff {
	return &Backoff{min: minDelay, max: maxDelay, multiplier: multiplier, jitter: jitter, current: minDelay}
}

// Next returns the delay to wait now and grows the following one.
func (b *Backoff) Next() time.Duration {
	d := b.current
	b.current = min(time.Duration(float64(b.current)*b.multiplier), b.max)
	return d + time.Duration(rand.Float64()*b.jitter*float64(d))
}

// Reset starts the sequence again from the minimum delay.
func (b *Backoff) Reset() { b.current = b.min }

// Jittered returns base plus a random duration in [0, jitter).
func Jittered(base, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return base
	}
	return base + rand.N(jitter)
}

// Sleep waits d or until ctx ends; it reports whether the full wait elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
