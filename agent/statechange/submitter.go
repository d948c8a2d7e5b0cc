// Package statechange sends the task engine's state changes to ECS with
// SubmitTaskStateChange, at least once (reference §4, DESIGN invariant 4).
//
// The engine keeps, per task, the newest unacknowledged report with a
// version. One goroutine (Submitter.Run) owns the send schedule: on every
// engine signal, on a jittered safety tick and whenever a send finishes, it
// takes the current reports and starts a send for each task that has none in
// flight and is not backing off, at most Concurrency at once:
//
//	ReportsChanged / tick / send done ─► Reports() ─► send (≤10 tasks at once)
//	    success or InvalidParameterException ─► MarkReported(task, version)
//	    other error ─► per-task backoff 1 s → 30 s ×1.3, then resend the newest
//
// PENDING reports are not sent (see schedule). Only the newest report of a
// task is ever sent: a task that went PENDING →
// RUNNING → STOPPED while the backend was away is reported once, as STOPPED.
// Nothing is kept on disk here: the engine persists what was acknowledged,
// so after a restart Reports() holds exactly what must be resent.
package statechange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Reference defaults (§4).
const (
	DefaultConcurrency = 10
	DefaultTick        = 10 * time.Second
	DefaultTickJitter  = 20 * time.Second
	DefaultBackoffMin  = time.Second
	DefaultBackoffMax  = 30 * time.Second

	backoffMultiplier = 1.3
	backoffJitter     = 0.2
	// callTimeout bounds one SubmitTaskStateChange so a silent backend
	// cannot hold a send slot for ever.
	callTimeout = 30 * time.Second

	// errInvalidParameter is the error code after which the incumbent drops
	// a report: resending the same body cannot succeed.
	errInvalidParameter = "InvalidParameterException"
)

// Source is what the submitter needs from the task engine.
type Source interface {
	Reports() []engine.TaskReport
	ReportsChanged() <-chan struct{}
	MarkReported(ctx context.Context, taskARN string, version uint64) error
}

// API is the one ECS call the submitter makes.
type API interface {
	SubmitTaskStateChange(ctx context.Context, in *ecs.SubmitTaskStateChangeInput, opts ...func(*ecs.Options)) (*ecs.SubmitTaskStateChangeOutput, error)
}

var _ API = (*ecs.Client)(nil)

// Options configure a Submitter. Zero durations and counts mean the
// reference defaults.
type Options struct {
	Source  Source
	API     API
	Cluster string // sent as "cluster" in every request
	Logger  *slog.Logger

	Concurrency            int
	Tick, TickJitter       time.Duration
	BackoffMin, BackoffMax time.Duration
}

// Submitter sends state changes. Create it with New and Run it once.
type Submitter struct {
	o   Options
	log *slog.Logger
}

// New fills in defaults.
func New(o Options) *Submitter {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Tick <= 0 {
		o.Tick, o.TickJitter = DefaultTick, DefaultTickJitter
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Submitter{o: o, log: log.With(logging.KeyComponent, "statechange")}
}

// taskState is the schedule of one task; Run's goroutine owns it.
type taskState struct {
	inFlight  bool
	notBefore time.Time // backing off until then
	bo        *backoff.Backoff
	failures  int
	// acked is the newest version ECS accepted; a report the engine has not
	// yet dropped after MarkReported is not sent again.
	acked uint64
}

// result is what a send goroutine hands back to Run.
type result struct {
	arn     string
	version uint64
	err     error // nil: sent (or dropped) and marked reported
}

// Run sends reports until ctx ends, then waits for the sends in flight and
// returns nil.
func (s *Submitter) Run(ctx context.Context) error {
	tasks := map[string]*taskState{}
	results := make(chan result, s.o.Concurrency)
	inFlight := 0

	tick := time.NewTimer(backoff.Jittered(s.o.Tick, s.o.TickJitter))
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	for {
		now := time.Now()
		next := s.schedule(ctx, tasks, &inFlight, results, now)
		if !next.IsZero() {
			retry.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			for ; inFlight > 0; inFlight-- {
				<-results
			}
			return nil
		case <-s.o.Source.ReportsChanged():
		case <-tick.C:
			tick.Reset(backoff.Jittered(s.o.Tick, s.o.TickJitter))
		case <-retry.C:
		case r := <-results:
			inFlight--
			s.done(tasks, r)
		}
	}
}

// schedule starts a send for every report that may go now, and returns the
// earliest time a backing-off task may go (zero if none waits).
func (s *Submitter) schedule(ctx context.Context, tasks map[string]*taskState, inFlight *int,
	results chan<- result, now time.Time) time.Time {
	reports := s.o.Source.Reports()
	pending := make(map[string]bool, len(reports))
	var next time.Time
	for _, r := range reports {
		if r.Status == engine.StatusPending {
			// The backend created the task PENDING and learns nothing
			// from hearing it again; pull times and runtime IDs ride
			// with RUNNING or STOPPED, as with Amazon's agent. This
			// saves two or three calls per task start.
			continue
		}
		pending[r.TaskARN] = true
		st := tasks[r.TaskARN]
		if st == nil {
			st = &taskState{bo: backoff.New(s.o.BackoffMin, s.o.BackoffMax, backoffMultiplier, backoffJitter)}
			tasks[r.TaskARN] = st
		}
		switch {
		case st.inFlight, r.Version <= st.acked:
			continue
		case now.Before(st.notBefore):
			if next.IsZero() || st.notBefore.Before(next) {
				next = st.notBefore
			}
			continue
		case *inFlight >= s.o.Concurrency:
			continue // picked up when a send finishes
		}
		st.inFlight = true
		*inFlight++
		go func(r engine.TaskReport) { results <- s.send(ctx, r) }(r)
	}
	// Forget tasks that no longer need reporting (acknowledged or removed).
	for arn, st := range tasks {
		if !pending[arn] && !st.inFlight {
			delete(tasks, arn)
		}
	}
	return next
}

// done records the outcome of one send.
func (s *Submitter) done(tasks map[string]*taskState, r result) {
	st := tasks[r.arn]
	if st == nil {
		return
	}
	st.inFlight = false
	if r.err == nil {
		st.acked = max(st.acked, r.version)
		st.bo.Reset()
		st.failures = 0
		st.notBefore = time.Time{}
		return
	}
	st.failures++
	wait := st.bo.Next()
	st.notBefore = time.Now().Add(wait)
	s.log.Warn("could not submit task state change; retrying", logging.KeyTask, r.arn,
		logging.KeyVersion, r.version, logging.KeyError, r.err,
		logging.KeyAttempt, st.failures, logging.KeyBackoff, wait)
}

// send submits one report and, once ECS has it, marks it reported.
func (s *Submitter) send(ctx context.Context, r engine.TaskReport) result {
	res := result{arn: r.TaskARN, version: r.Version}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	_, err := s.o.API.SubmitTaskStateChange(cctx, taskInput(s.o.Cluster, r))
	cancel()
	var apiErr smithy.APIError
	switch {
	case err == nil:
		s.log.Info("submitted task state change", logging.KeyTask, r.TaskARN,
			logging.KeyStatus, r.Status, logging.KeyVersion, r.Version)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == errInvalidParameter:
		// Resending the same body cannot succeed; the incumbent drops it too.
		s.log.Error("ECS rejected the task state change; dropping it", logging.KeyTask, r.TaskARN,
			logging.KeyStatus, r.Status, logging.KeyVersion, r.Version, logging.KeyError, err)
	default:
		res.err = fmt.Errorf("submit task state change: %w", err)
		return res
	}
	if err := s.o.Source.MarkReported(ctx, r.TaskARN, r.Version); err != nil {
		// The backend has it; resending is harmless and keeps at-least-once.
		res.err = fmt.Errorf("mark state change reported: %w", err)
	}
	return res
}
