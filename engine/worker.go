package engine

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// volumesKey marks the task's volume provisioning as in flight; container
// names cannot contain "/", so it never clashes with one.
const volumesKey = "/volumes"

// worker owns one task. Only its goroutine (run) touches w.t; others post
// to the inbox, whose pending slot newer updates overwrite.
type worker struct {
	e       *Engine
	t       *task
	log     *slog.Logger
	loaded  bool // came from agent.db: reconcile before anything else
	in      inbox
	results chan result

	inflight    map[string]bool      // container name (or volumesKey) → an operation runs
	stopRetryAt map[string]time.Time // container name → earliest next stop attempt
	grant       <-chan struct{}      // host resources, while queued
	released    bool                 // host resources and ports given back
	cleanupAt   time.Time
	next        time.Time // earliest timer the current step asked for
	lastSaved   []byte
}

// inbox is the pending slot: what others asked of the worker since it last
// looked. It has its own small lock; the task model has none.
type inbox struct {
	signal chan struct{} // buffer 1

	mu         sync.Mutex
	gone       bool  // the worker ended: answer at once with goneErr
	goneErr    error // nil after cleanup (nothing left to persist), else why
	desired    status
	ack        uint64
	waiters    []chan error // answered after the next save
	inspectIDs map[string]bool
	inspectAll bool
}

func newWorker(e *Engine, t *task, loaded bool) *worker {
	return &worker{
		e:           e,
		t:           t,
		log:         e.log.With(logging.KeyTask, t.ARN),
		loaded:      loaded,
		in:          inbox{signal: make(chan struct{}, 1), inspectIDs: map[string]bool{}},
		results:     make(chan result, len(t.Containers)+1),
		inflight:    map[string]bool{},
		stopRetryAt: map[string]time.Time{},
	}
}

func (w *worker) poke() {
	select {
	case w.in.signal <- struct{}{}:
	default:
	}
}

// post records an update and returns a channel answered once it is saved.
func (w *worker) post(update func(in *inbox)) chan error {
	done := make(chan error, 1)
	w.in.mu.Lock()
	if w.in.gone {
		done <- w.in.goneErr
		w.in.mu.Unlock()
		return done
	}
	update(&w.in)
	w.in.waiters = append(w.in.waiters, done)
	w.in.mu.Unlock()
	w.poke()
	return done
}

func wait(ctx context.Context, done chan error) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setDesired asks for a desired status (only moving forward takes effect)
// and waits until it is persisted.
func (w *worker) setDesired(ctx context.Context, s status) error {
	return wait(ctx, w.post(func(in *inbox) { in.desired = max(in.desired, s) }))
}

// ack records an acknowledged report version and waits until persisted.
func (w *worker) ack(ctx context.Context, version uint64) error {
	return wait(ctx, w.post(func(in *inbox) { in.ack = max(in.ack, version) }))
}

// inspect asks the worker to re-inspect one container (by Docker ID) or all.
func (w *worker) inspect(dockerID string, all bool) {
	w.in.mu.Lock()
	if all {
		w.in.inspectAll = true
	} else {
		w.in.inspectIDs[dockerID] = true
	}
	w.in.mu.Unlock()
	w.poke()
}

// take empties the pending slot.
func (w *worker) take() (desired status, ack uint64, waiters []chan error, ids map[string]bool, all bool) {
	w.in.mu.Lock()
	defer w.in.mu.Unlock()
	desired, ack, waiters, ids, all = w.in.desired, w.in.ack, w.in.waiters, w.in.inspectIDs, w.in.inspectAll
	w.in.desired, w.in.ack, w.in.waiters, w.in.inspectIDs, w.in.inspectAll = 0, 0, nil, map[string]bool{}, false
	return
}

// end answers everyone still waiting on the worker: after cleanup there is
// nothing left to persist; after shutdown the engine is not running.
func (w *worker) end(ctx context.Context) {
	w.in.mu.Lock()
	defer w.in.mu.Unlock()
	w.in.gone = true
	if ctx.Err() != nil {
		w.in.goneErr = ErrNotRunning
	}
	for _, done := range w.in.waiters {
		done <- w.in.goneErr
	}
	w.in.waiters = nil
}

func (w *worker) wakeAt(t time.Time) {
	if w.next.IsZero() || t.Before(w.next) {
		w.next = t
	}
}

// run is the task's life: reconcile (if loaded), then progress until the
// task is cleaned up or ctx ends. Ending ctx leaves containers alone.
func (w *worker) run(ctx context.Context, ready func()) {
	var once sync.Once
	defer once.Do(ready)
	defer w.end(ctx)
	if w.loaded {
		w.reconcile(ctx)
	}
	if err := w.save(); err != nil {
		w.log.Error("persist task", logging.KeyError, err)
	}
	once.Do(ready)

	var waiters []chan error
	for {
		w.next = time.Time{}
		w.step(ctx)
		err := w.save()
		if err != nil {
			w.log.Error("persist task", logging.KeyError, err)
			w.wakeAt(w.e.o.Now().Add(retryDelay))
		}
		for _, done := range waiters {
			done <- err
		}
		waiters = nil
		if w.cleanupDue(ctx) {
			return
		}

		waiters = w.wait(ctx)
		if ctx.Err() != nil {
			for _, done := range waiters {
				done <- ErrNotRunning
			}
			return
		}
	}
}

// wait blocks until something happens and handles it; it returns the
// callers to answer after the next save.
func (w *worker) wait(ctx context.Context) (waiters []chan error) {
	var timer <-chan time.Time
	if !w.next.IsZero() {
		tm := time.NewTimer(max(w.next.Sub(w.e.o.Now()), 0))
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case <-ctx.Done():
		return nil
	case <-w.in.signal:
		var desired status
		var ack uint64
		var ids map[string]bool
		var all bool
		desired, ack, waiters, ids, all = w.take()
		if desired > w.t.DesiredStatus {
			w.stopTask("")
		}
		if ack > w.t.SentVersion {
			w.t.SentVersion = min(ack, w.t.ReportVersion)
		}
		if all || len(ids) > 0 {
			w.refresh(ctx, ids, all)
		}
	case r := <-w.results:
		if ctx.Err() != nil {
			return nil // an operation cut short by shutdown says nothing
		}
		delete(w.inflight, r.key)
		w.apply(ctx, r)
	case <-w.grant:
		w.grant = nil
		w.t.ResourcesAcquired = true
	case <-timer:
	}
	return waiters
}

// stopTask sets the task's desired status to STOPPED (once) with reason.
func (w *worker) stopTask(reason string) {
	t := w.t
	if t.DesiredStatus != statusStopped {
		t.DesiredStatus = statusStopped
		w.log.Info("stopping task", logging.KeyReason, reason)
	}
	if t.StopReason == "" && reason != "" {
		t.StopReason = reason
	}
}

// failContainer ends a container that cannot progress.
func (w *worker) failContainer(c *container, reason string) {
	w.log.Warn("container failed", logging.KeyContainer, c.Name, logging.KeyReason, reason)
	if c.Reason == "" {
		c.Reason = reason
	}
	c.DesiredStatus, c.KnownStatus = statusStopped, statusStopped
}

// step applies the task rules and starts every transition that is allowed
// now, repeating while a rule changed something synchronously.
func (w *worker) step(ctx context.Context) {
	t := w.t
	now := w.e.o.Now()
	for range 2 * (len(t.Containers) + 2) {
		changed := false
		if t.DesiredStatus != statusStopped {
			for _, c := range t.Containers {
				if c.Essential && c.KnownStatus == statusStopped {
					w.stopTask(c.Reason)
					break
				}
			}
		}
		if t.DesiredStatus != statusStopped && !t.ResourcesAcquired && !w.waitResources() &&
			t.DesiredStatus != statusStopped {
			break // queued for host resources
		}
		if t.DesiredStatus == statusStopped {
			for _, c := range t.Containers {
				c.DesiredStatus = statusStopped
			}
		}
		for _, c := range t.Containers {
			if !w.inflight[c.Name] && w.advance(ctx, c, now) {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	w.updateTaskStatus(now)
	w.updateMetadataFiles()
}

// waitResources queues the task for host resources; false while it waits.
func (w *worker) waitResources() bool {
	if w.grant == nil {
		n := taskNeed(w.t)
		if why := w.e.res.impossible(n); why != "" {
			w.stopTask(reasonf(kindResources, "%s", why))
			return false
		}
		w.grant = w.e.res.acquire(w.t.ARN, n)
	}
	select {
	case <-w.grant:
		w.grant = nil
		w.t.ResourcesAcquired = true
		return true
	default:
		return false
	}
}

// advance starts c's next transition if allowed; true if it changed c
// synchronously.
func (w *worker) advance(ctx context.Context, c *container, now time.Time) bool {
	t := w.t
	if c.KnownStatus == statusStopped {
		return false
	}
	if c.DesiredStatus == statusStopped {
		if c.DockerID == "" {
			c.KnownStatus = statusStopped
			return true
		}
		for _, d := range t.dependents(c.Name) {
			if d.KnownStatus != statusStopped {
				return false // dependents stop first
			}
		}
		if at := w.stopRetryAt[c.Name]; now.Before(at) {
			w.wakeAt(at)
			return false
		}
		w.launchStop(ctx, c)
		return false
	}
	switch c.KnownStatus {
	case statusNone, statusManifestPulled:
		w.launchPull(ctx, c)
	case statusPulled:
		if !t.VolumesCreated {
			if !w.inflight[volumesKey] {
				w.launchVolumes(ctx)
			}
			return false
		}
		ok, why := w.depsResolved(c, now)
		if why != "" {
			w.failContainer(c, reasonf(kindDepFailed, "%s", why))
			return true
		}
		if ok {
			return w.launchCreate(ctx, c, now)
		}
	case statusCreated:
		ok, why := w.depsResolved(c, now)
		if why != "" {
			w.failContainer(c, reasonf(kindDepFailed, "%s", why))
			return true
		}
		if ok {
			w.launchStart(ctx, c)
		}
	}
	return false
}

// depsResolved reports whether every dependency of c is met; a non-empty
// reason means one never will be.
func (w *worker) depsResolved(c *container, now time.Time) (bool, string) {
	all := true
	for _, d := range c.DependsOn {
		dc := w.t.container(d.Name)
		ok, why := false, ""
		stopped := dc.KnownStatus == statusStopped
		switch d.Condition {
		case condCreate:
			ok = dc.DockerID != "" && dc.KnownStatus >= statusCreated
			if !ok && stopped {
				why = "it stopped before it was created"
			}
		case condStart:
			ok = dc.KnownStatus == statusRunning || (stopped && !dc.StartedAt.IsZero())
			if !ok && stopped {
				why = "it stopped without starting"
			}
		case condComplete:
			ok = stopped && dc.KnownExitCode != nil
			if !ok && stopped {
				why = "it stopped without an exit code"
			}
		case condSuccess:
			ok = stopped && dc.KnownExitCode != nil && *dc.KnownExitCode == 0
			if !ok && stopped {
				if dc.KnownExitCode != nil {
					why = "it exited with code " + itoa(*dc.KnownExitCode)
				} else {
					why = "it stopped without an exit code"
				}
			}
		case condHealthy:
			ok = dc.Health == healthHealthy
			if !ok && stopped {
				why = "it stopped before it was healthy"
			}
		}
		if !ok && why == "" && dc.StartTimeout > 0 && !dc.StartedAt.IsZero() &&
			(d.Condition == condComplete || d.Condition == condSuccess || d.Condition == condHealthy) {
			deadline := dc.StartedAt.Add(time.Duration(dc.StartTimeout) * time.Second)
			if !now.Before(deadline) {
				why = "its startTimeout of " + itoa(dc.StartTimeout) + "s passed"
			} else {
				w.wakeAt(deadline)
			}
		}
		if why != "" {
			return false, "container " + c.Name + " depends on " + d.Name + " (" + d.Condition + "), but " + why
		}
		all = all && ok
	}
	return all, ""
}

// updateTaskStatus derives the task's known status from its containers and
// gives host resources back once everything stopped.
func (w *worker) updateTaskStatus(now time.Time) {
	t := w.t
	allStopped, essStopped, running, hasEssential := true, true, true, false
	lowest := statusStopped
	for _, c := range t.Containers {
		hasEssential = hasEssential || c.Essential
		if c.KnownStatus != statusStopped {
			allStopped = false
			lowest = min(lowest, c.KnownStatus)
			if c.KnownStatus != statusRunning {
				running = false
			}
			if c.Essential {
				essStopped = false
			}
		}
	}
	known := lowest
	switch {
	case allStopped:
		known = statusStopped
	case running:
		known = statusRunning
	case lowest == statusManifestPulled:
		known = statusPulled
	}
	if known > t.KnownStatus {
		t.KnownStatus = known
		t.KnownTime = now.UTC()
		w.log.Info("task status", logging.KeyKnownStatus, known.String())
	}
	if !hasEssential {
		essStopped = allStopped
	}
	if essStopped && t.ExecutionStoppedAt == nil && (t.KnownStatus >= statusCreated || allStopped) {
		at := now.UTC()
		t.ExecutionStoppedAt = &at
	}
	if t.KnownStatus == statusStopped && !w.released {
		w.released = true
		w.grant = nil
		w.e.res.release(t.ARN)
		w.e.ports.release(t.ARN)
		t.ResourcesAcquired = false
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
