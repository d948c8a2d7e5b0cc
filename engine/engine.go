// Package engine runs ECS tasks on the local container runtime: it turns
// ACS task payloads into containers, drives every container through
// NONE → PULLED → CREATED → RUNNING → STOPPED, persists what it does in
// agent.db, and reports state changes for SubmitTaskStateChange.
//
// Each task is owned by one worker goroutine (worker.go); everything else
// (AddTask, Docker events, acknowledgements) is sent to it. See
// docs/engine.md for the phase machine and the persistence layout.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/acs/wire"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Engine runs tasks. Create it with New and start it with Run.
type Engine struct {
	o     Options
	log   *slog.Logger
	res   *hostResources
	ports *portAllocator
	sem   chan struct{} // bounds concurrent pulls, creates and starts
	// relistSlots bounds the relist's inspections in flight (relistAll).
	relistSlots chan struct{}

	ready   chan struct{}
	changed chan struct{}

	addMu sync.Mutex // serialises AddTask's look-up-or-create

	mu       sync.Mutex
	runCtx   context.Context
	running  bool
	closed   bool
	wg       sync.WaitGroup
	workers  map[string]*worker // by task ARN
	byDocker map[string]*worker // by Docker ID
	pubs     map[string]*published
}

// published is what a worker last made visible to readers.
type published struct {
	report TaskReport
	sent   uint64
	snap   TaskSnapshot
}

// New checks the options and builds an Engine; nothing runs until Run.
func New(o Options) (*Engine, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	ports, err := newPortAllocator(o.Config.DynamicHostPortRange, o.HostResources, o.PortFree)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return &Engine{
		o:           o,
		log:         o.Logger.With(logging.KeyComponent, "engine"),
		res:         newHostResources(o.HostResources),
		ports:       ports,
		sem:         make(chan struct{}, maxConcurrentStarts(o.Config)),
		relistSlots: make(chan struct{}, relistConcurrency),
		ready:       make(chan struct{}),
		changed:     make(chan struct{}, 1),
		workers:     map[string]*worker{},
		byDocker:    map[string]*worker{},
		pubs:        map[string]*published{},
	}, nil
}

// Ready is closed once the stored tasks are loaded and reconciled with
// Docker; AddTask waits for it.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// ReportsChanged receives a value when Reports may have changed.
func (e *Engine) ReportsChanged() <-chan struct{} { return e.changed }

// Run loads the stored tasks, reconciles them with Docker, and runs them
// until ctx ends. It never stops containers when it returns: an agent
// restart must not disturb running tasks.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running || e.closed {
		e.mu.Unlock()
		return errors.New("engine: Run was already called")
	}
	e.running = true
	e.runCtx = ctx
	e.mu.Unlock()

	tasks, err := e.load()
	if err != nil {
		e.shut()
		return err
	}
	// The event stream is opened before reconciling, so that nothing that
	// happens during the reconcile goes unnoticed.
	evs, errs := e.o.Runtime.Events(ctx)

	var readyWG sync.WaitGroup
	e.mu.Lock()
	ws := make([]*worker, 0, len(tasks))
	for _, t := range tasks {
		w := newWorker(e, t, true)
		e.register(w)
		ws = append(ws, w)
	}
	for _, w := range ws {
		readyWG.Add(1)
		e.wg.Go(func() { w.run(ctx, readyWG.Done) })
	}
	e.wg.Go(func() { e.watchEvents(ctx, evs, errs) })
	e.mu.Unlock()
	go func() {
		readyWG.Wait()
		close(e.ready)
	}()

	tick := time.NewTicker(e.o.RelistInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			e.shut()
			e.wg.Wait()
			return nil
		case <-tick.C:
			e.relistAll()
		}
	}
}

func (e *Engine) shut() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// register makes w reachable by ARN and Docker IDs. Callers hold e.mu.
func (e *Engine) register(w *worker) {
	e.workers[w.t.ARN] = w
	for _, c := range w.t.Containers {
		if c.DockerID != "" {
			e.byDocker[c.DockerID] = w
		}
	}
}

func (e *Engine) bindDocker(id string, w *worker) {
	e.mu.Lock()
	e.byDocker[id] = w
	e.mu.Unlock()
}

// unregister forgets a cleaned-up task.
func (e *Engine) unregister(w *worker) {
	e.mu.Lock()
	delete(e.workers, w.t.ARN)
	for id, o := range e.byDocker {
		if o == w {
			delete(e.byDocker, id)
		}
	}
	delete(e.pubs, w.t.ARN)
	e.mu.Unlock()
	e.signalChanged()
}

// AddTask accepts a new task or a desired-status change and returns once it
// is persisted. A task the engine cannot run is stored as STOPPED with a
// reason and nil is returned; an error means it was not persisted and must
// not be acknowledged.
func (e *Engine) AddTask(ctx context.Context, wt *wire.Task) error {
	if wt == nil || wt.ARN == "" {
		return errors.New("engine: AddTask needs a task with an arn")
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return fmt.Errorf("engine: wait for the engine to be ready: %w", ctx.Err())
	}
	desired := desiredFromWire(wt.DesiredStatus)

	e.addMu.Lock()
	e.mu.Lock()
	w := e.workers[wt.ARN]
	e.mu.Unlock()
	if w != nil {
		e.addMu.Unlock()
		return w.setDesired(ctx, desired)
	}
	defer e.addMu.Unlock()
	if desired == statusStopped {
		// A task we do not know (or already cleaned up) told to stop:
		// nothing runs, nothing to report.
		e.log.Debug("ignoring stop of unknown task", logging.KeyTask, wt.ARN)
		return nil
	}
	t, reason := fromWire(wt, e.o.Config)
	if reason == "" && needsCgroup(t) && e.o.Cgroups == nil {
		reason = reasonf(kindInvalid, "the task has task-level cpu or memory, which this instance cannot enforce (%s); "+
			"remove them or run the task where ECS_ENABLE_TASK_CPU_MEM_LIMIT works", e.o.NoCgroups)
	}
	now := e.o.Now().UTC()
	t.KnownTime = now
	if reason != "" {
		e.log.Warn("task refused", logging.KeyTask, t.ARN, logging.KeyReason, reason)
		t.DesiredStatus, t.KnownStatus, t.StopReason = statusStopped, statusStopped, reason
		t.ExecutionStoppedAt = &now
		for _, c := range t.Containers {
			c.DesiredStatus, c.KnownStatus = statusStopped, statusStopped
		}
	}
	e.mu.Lock()
	closed := e.closed || e.runCtx == nil
	e.mu.Unlock()
	if closed {
		return ErrNotRunning
	}
	w = newWorker(e, t, false)
	if err := w.save(); err != nil {
		return fmt.Errorf("engine: persist task %s: %w", t.ARN, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrNotRunning // persisted: the next Run picks it up
	}
	e.register(w)
	if t.DesiredStatus == statusRunning {
		// Queue for host resources here, not in the worker, so that tasks
		// queue in the order they arrived.
		if n := taskNeed(t); e.res.impossible(n) == "" {
			w.grant = e.res.acquire(t.ARN, n)
		}
	}
	ctxRun := e.runCtx
	e.wg.Go(func() { w.run(ctxRun, func() {}) })
	e.log.Info("task added", logging.KeyTask, t.ARN, logging.KeyTaskFamily, t.Family)
	return nil
}

// publish makes a worker's newest persisted state visible to readers.
func (e *Engine) publish(arn string, rep TaskReport, sent uint64, snap TaskSnapshot) {
	e.mu.Lock()
	old := e.pubs[arn]
	e.pubs[arn] = &published{report: rep, sent: sent, snap: snap}
	e.mu.Unlock()
	if old == nil || old.report.Version != rep.Version || old.sent != sent {
		e.signalChanged()
	}
}

func (e *Engine) signalChanged() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Reports returns, for each task whose newest report was not acknowledged,
// that report, ordered by task ARN.
func (e *Engine) Reports() []TaskReport {
	e.mu.Lock()
	defer e.mu.Unlock()
	var arns []string
	for arn, p := range e.pubs {
		if p.report.Version > p.sent {
			arns = append(arns, arn)
		}
	}
	slices.Sort(arns)
	out := make([]TaskReport, 0, len(arns))
	for _, arn := range arns {
		out = append(out, e.pubs[arn].report)
	}
	return out
}

// MarkReported records that the backend accepted taskARN's report version
// and returns once that is persisted. Unknown tasks are ignored.
func (e *Engine) MarkReported(ctx context.Context, taskARN string, version uint64) error {
	e.mu.Lock()
	w := e.workers[taskARN]
	e.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.ack(ctx, version)
}

// Snapshot returns an immutable copy of every task, ordered by ARN.
func (e *Engine) Snapshot() []TaskSnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]TaskSnapshot, 0, len(e.pubs))
	for _, p := range e.pubs {
		out = append(out, p.snap)
	}
	slices.SortFunc(out, func(a, b TaskSnapshot) int { return strings.Compare(a.ARN, b.ARN) })
	return out
}

// relistAll asks every task to re-inspect its containers. The tasks
// inspect on their own goroutines, relistConcurrency at a time (refresh):
// the whole relist is one burst of Docker calls over the client's idle
// connections.
//
// Why neither all at once nor spread out: 100 concurrent calls made the
// Docker client, which keeps two idle connections, dial 98 connections and
// close them again every minute (a fifth of the agent's CPU in a perf
// window that caught it); spread over half the interval, the calls woke
// the agent 100 times a minute, as costly as the stats streams themselves
// with 100 tasks (each wake-up, not the call, is the cost on a mostly idle
// process).
func (e *Engine) relistAll() {
	e.mu.Lock()
	ws := make([]*worker, 0, len(e.workers))
	for _, w := range e.workers {
		ws = append(ws, w)
	}
	e.mu.Unlock()
	for _, w := range ws {
		w.inspect("", true)
	}
}

// relistInspect is inspectContainer for a relist: it waits for one of the
// relistConcurrency slots first.
func (e *Engine) relistInspect(ctx context.Context, id string) (info rt.Container, err error) {
	err = bounded(ctx, e.relistSlots, func() error {
		info, err = e.inspectContainer(ctx, id)
		return err
	})
	return info, err
}

// watchEvents forwards container events to the owning task until ctx ends,
// reopening the stream (and relisting, for what was missed) when it breaks.
func (e *Engine) watchEvents(ctx context.Context, evs <-chan rt.Event, errs <-chan error) {
	b := backoff.New(time.Second, 30*time.Second, 2, 0.2)
	for {
		err := e.drainEvents(ctx, evs, errs)
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("docker event stream ended; reconnecting", logging.KeyError, err)
		if !backoff.Sleep(ctx, b.Next()) {
			return
		}
		evs, errs = e.o.Runtime.Events(ctx)
		e.relistAll() // events were missed
	}
}

func (e *Engine) drainEvents(ctx context.Context, evs <-chan rt.Event, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				if errs == nil {
					return nil
				}
				continue
			}
			e.dispatch(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				if evs == nil {
					return nil
				}
				continue
			}
			return err
		}
	}
}

// dispatch sends an event to the task that owns the container. Events are
// only hints: the worker inspects its own containers by ID, so an event for
// a container of another agent changes nothing.
func (e *Engine) dispatch(ev rt.Event) {
	e.mu.Lock()
	w := e.byDocker[ev.ContainerID]
	if w == nil && ev.Labels != nil {
		w = e.workers[ev.Labels[LabelTaskARN]]
	}
	e.mu.Unlock()
	if w != nil {
		w.inspect(ev.ContainerID, false)
	}
}
