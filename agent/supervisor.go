package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// supervisor owns the agent's long-lived goroutines. Each runs with its own
// context derived from the parent; stop cancels them in reverse start order
// so that consumers stop before what they consume. The first goroutine to
// return an error (or nil before the parent ends) ends wait.
type supervisor struct {
	parent context.Context
	log    *slog.Logger

	mu    sync.Mutex
	procs []*proc

	done     chan struct{} // closed on the first exit
	doneOnce sync.Once
	firstErr error
}

type proc struct {
	name   string
	grace  time.Duration // 0: the grace passed to stop
	cancel context.CancelFunc
	exited chan struct{}
}

func newSupervisor(parent context.Context, log *slog.Logger) *supervisor {
	return &supervisor{parent: parent, log: log, done: make(chan struct{})}
}

func (s *supervisor) start(name string, run func(ctx context.Context) error) {
	s.startWithGrace(name, 0, run)
}

// startWithGrace is start for a component that needs longer than the
// default grace to stop (0 means the default).
func (s *supervisor) startWithGrace(name string, grace time.Duration, run func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(s.parent)
	p := &proc{name: name, grace: grace, cancel: cancel, exited: make(chan struct{})}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go func() {
		defer close(p.exited)
		err := run(ctx)
		if ctx.Err() != nil && err == nil {
			return // asked to stop
		}
		if err == nil {
			err = fmt.Errorf("%s stopped unexpectedly", name)
		} else {
			err = fmt.Errorf("%s: %w", name, err)
		}
		s.doneOnce.Do(func() {
			s.firstErr = err
			close(s.done)
		})
	}()
}

// wait blocks until the parent context ends (nil) or a goroutine fails.
func (s *supervisor) wait() error {
	select {
	case <-s.parent.Done():
		return nil
	case <-s.done:
		return s.firstErr
	}
}

// stop cancels every goroutine in reverse start order, waiting up to grace
// for each.
func (s *supervisor) stop(grace time.Duration) {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		p.cancel()
		wait := grace
		if p.grace > 0 {
			wait = p.grace
		}
		t := time.NewTimer(wait)
		select {
		case <-p.exited:
		case <-t.C:
			s.log.Warn("component did not stop in time", logging.KeyComponent, p.name, logging.KeyDuration, wait)
		}
		t.Stop()
	}
}
