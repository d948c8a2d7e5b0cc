package acs

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is an exponential backoff with multiplicative jitter, owned by one
// goroutine (no locking).
type backoff struct {
	min, max   time.Duration
	multiplier float64
	jitter     float64 // fraction of the delay added at random, 0.2 = up to +20%
	current    time.Duration
}

func newBackoff(min, max time.Duration, multiplier, jitter float64) *backoff {
	return &backoff{min: min, max: max, multiplier: multiplier, jitter: jitter, current: min}
}

// next returns the delay to wait now and grows the following one.
func (b *backoff) next() time.Duration {
	d := b.current
	b.current = min(time.Duration(float64(b.current)*b.multiplier), b.max)
	return d + time.Duration(rand.Float64()*b.jitter*float64(d))
}

func (b *backoff) reset() { b.current = b.min }

// jittered returns base plus a random duration in [0, jitter).
func jittered(base, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return base
	}
	return base + rand.N(jitter)
}

// sleepCtx waits d or until ctx ends; it reports whether the full wait elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
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
