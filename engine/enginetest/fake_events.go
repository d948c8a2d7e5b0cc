package enginetest

import (
	"context"
	"errors"
	"sync"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// subscriber is one Events stream. Events queue without bound so that the
// fake never blocks while it holds its lock; a goroutine delivers them.
type subscriber struct {
	mu     sync.Mutex
	queue  []runtime.Event
	broken error
	wake   chan struct{} // buffer 1
}

func (s *subscriber) push(ev runtime.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.signal()
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Events streams container events from now on.
func (f *Fake) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event)
	errc := make(chan error, 1)
	err := f.enter(ctx, "Events")
	sub := &subscriber{wake: make(chan struct{}, 1)}
	if err == nil {
		f.mu.Lock()
		f.subs[sub] = struct{}{}
		f.mu.Unlock()
	}
	if err != nil {
		errc <- err
		close(errc)
		close(out)
		return out, errc
	}
	go func() {
		defer close(out)
		defer close(errc)
		defer func() {
			f.mu.Lock()
			delete(f.subs, sub)
			f.mu.Unlock()
		}()
		for {
			sub.mu.Lock()
			if sub.broken != nil {
				sub.mu.Unlock()
				errc <- sub.broken
				return
			}
			var next *runtime.Event
			if len(sub.queue) > 0 {
				ev := sub.queue[0]
				sub.queue = sub.queue[1:]
				next = &ev
			}
			sub.mu.Unlock()
			if next == nil {
				select {
				case <-sub.wake:
					continue
				case <-ctx.Done():
					errc <- nil
					return
				}
			}
			select {
			case out <- *next:
			case <-ctx.Done():
				errc <- nil
				return
			}
		}
	}()
	return out, errc
}

// BreakEvents ends every open Events stream with err, as when Docker
// restarts; undelivered events are dropped.
func (f *Fake) BreakEvents(err error) {
	if err == nil {
		err = errors.New("fake: event stream broken")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		sub.mu.Lock()
		sub.broken = err
		sub.queue = nil
		sub.mu.Unlock()
		sub.signal()
		delete(f.subs, sub)
	}
}

// emit sends an event about fc to every subscriber. The caller holds f.mu.
func (f *Fake) emit(fc *fakeContainer, action string, exitCode *int) {
	ev := runtime.Event{
		ContainerID: fc.c.ID, Action: action, Labels: copyMap(fc.c.Labels), Time: f.now(),
	}
	if exitCode != nil {
		code := *exitCode
		ev.ExitCode = &code
	}
	for sub := range f.subs {
		sub.push(ev)
	}
}

func (f *Fake) emitHealth(fc *fakeContainer, status string) {
	ev := runtime.Event{
		ContainerID: fc.c.ID, Action: runtime.EventHealth, Health: status,
		Labels: copyMap(fc.c.Labels), Time: f.now(),
	}
	for sub := range f.subs {
		sub.push(ev)
	}
}
