package services

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// DefaultInterval is how often every service is reconciled when nothing
// wakes the driver sooner.
const DefaultInterval = 5 * time.Second

// restPerWork is how long the driver rests after a round, in multiples of
// the time the round took (see Run).
const restPerWork = 2

// DriverOptions configure a Driver.
type DriverOptions struct {
	// Reconcile runs one round over every service (ecsapi's
	// ReconcileServices).
	Reconcile func(ctx context.Context) error
	// Interval between rounds nothing woke; 0 means DefaultInterval.
	Interval time.Duration
	Logger   *slog.Logger
}

// Driver runs the service scheduler's rounds: one whenever Wake is called
// (a task stopped or started running, an instance changed, a service was
// changed) and one every Interval, so that what no event reports (health
// changes, backoffs running out) is acted on too. Wakes that arrive during
// a round are folded into one more round.
type Driver struct {
	o    DriverOptions
	log  *slog.Logger
	wake chan struct{}
}

// NewDriver returns a driver; Run starts it.
func NewDriver(o DriverOptions) *Driver {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{o: o, log: o.Logger.With(logging.KeyComponent, "services"), wake: make(chan struct{}, 1)}
}

// Wake asks for a round soon; it never blocks.
func (d *Driver) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends, starting with a round: a restarted
// control plane carries on at once.
//
// After each round the driver rests twice as long as the round took
// before it starts another. During a rollout every task that starts or
// stops wakes it, so without the rest rounds would follow each other
// without a break: on a large cluster (a round of 50 services on 500
// instances takes tens of milliseconds) the scheduler would keep a core
// busy and every API request would wait for CPU behind it. The rest keeps
// the scheduler to at most a third of a core, whatever the size of the
// cluster, and costs a small cluster nothing (its rounds take a
// millisecond); the wakes that arrive meanwhile are folded into the next
// round, which then does more work per read of the cluster. (In the
// fleet benchmark, resting as long as a round took left RunTask's p99 at
// 50–80 ms; twice as long brought it to about 45 ms, and the rollout was
// no slower: docs/benchmarks.md.)
func (d *Driver) Run(ctx context.Context) {
	tick := time.NewTicker(d.o.Interval)
	defer tick.Stop()
	rest := time.NewTimer(0)
	defer rest.Stop()
	for {
		began := time.Now()
		if err := d.o.Reconcile(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("service scheduler round failed", logging.KeyError, err)
		}
		rest.Reset(restPerWork * time.Since(began))
		select {
		case <-ctx.Done():
			return
		case <-rest.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// Watch returns st wrapped so that, after each successful Update, wake is
// called if the transaction wrote what a service scheduler reacts to: a
// service's task reaching RUNNING or STOPPED (as agents report them), or a
// container instance (registered, deregistered, draining, connected).
// The scheduler's own writes (new PENDING tasks, stop requests) wake
// nothing, so its rounds do not feed themselves.
func Watch(st store.Store, wake func()) store.Store {
	return watched{Store: st, wake: wake}
}

type watched struct {
	store.Store
	wake func()
}

func (w watched) Update(fn func(store.Tx) error) error { return w.write(w.Store.Update, fn) }

func (w watched) Batch(fn func(store.Tx) error) error { return w.write(w.Store.Batch, fn) }

func (w watched) write(run func(func(store.Tx) error) error, fn func(store.Tx) error) error {
	var hit bool
	err := run(func(tx store.Tx) error {
		hit = false // a retried transaction starts over
		return fn(wakingTx{Tx: tx, hit: &hit})
	})
	if err == nil && hit {
		w.wake()
	}
	return err
}

type wakingTx struct {
	store.Tx
	hit *bool
}

func (t wakingTx) PutTask(task store.Task) error {
	if err := t.Tx.PutTask(task); err != nil {
		return err
	}
	if strings.HasPrefix(task.Group, "service:") &&
		(task.LastStatus == store.TaskStopped || (task.LastStatus == store.TaskRunning && task.DesiredStatus == store.TaskRunning)) {
		*t.hit = true
	}
	return nil
}

func (t wakingTx) PutInstance(ci store.ContainerInstance) error {
	if err := t.Tx.PutInstance(ci); err != nil {
		return err
	}
	*t.hit = true
	return nil
}
