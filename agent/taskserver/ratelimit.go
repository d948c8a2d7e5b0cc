package taskserver

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of the per-caller limiter table: callers idle for limiterIdle are
// forgotten once the table holds limiterSweepAt of them.
const (
	limiterIdle    = 10 * time.Minute
	limiterSweepAt = 1024
)

// rateLimitedBody is what a caller over its rate gets, with 429.
const rateLimitedBody = "You have reached maximum request limit.\n"

// limiter keeps one token bucket per caller address, so one busy container
// cannot starve the others of their metadata and credentials.
type limiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	callers map[string]*caller
}

type caller struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int, now func() time.Time) *limiter {
	return &limiter{rate: r, burst: burst, now: now, callers: map[string]*caller{}}
}

func (l *limiter) allow(ip string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.callers[ip]
	if c == nil {
		if len(l.callers) >= limiterSweepAt {
			for k, o := range l.callers {
				if now.Sub(o.seen) > limiterIdle {
					delete(l.callers, k)
				}
			}
		}
		c = &caller{lim: rate.NewLimiter(l.rate, l.burst)}
		l.callers[ip] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

// limited answers 429 to a caller over its rate.
func (s *Server) limited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.limiter.allow(remoteIP(r)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(rateLimitedBody))
			return
		}
		next.ServeHTTP(w, r)
	})
}
