package services

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// A round runs at start, on every Wake (wakes during a round folded into
// one more) and every interval.
func TestDriverRunsOnStartWakeAndInterval(t *testing.T) {
	rounds := make(chan struct{}, 10)
	d := NewDriver(DriverOptions{Interval: time.Hour, Reconcile: func(context.Context) error {
		rounds <- struct{}{}
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	<-rounds // at start
	d.Wake()
	<-rounds
	cancel()
	<-done

	ticked := make(chan struct{}, 10)
	d = NewDriver(DriverOptions{Interval: time.Millisecond, Reconcile: func(context.Context) error {
		ticked <- struct{}{}
		return nil
	}})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	for range 3 { // the start, then the ticker: nothing wakes this one
		<-ticked
	}
}

func TestWakeNeverBlocks(t *testing.T) {
	d := NewDriver(DriverOptions{Reconcile: func(context.Context) error { return nil }})
	for range 100 {
		d.Wake()
	}
	assert.Len(t, d.wake, 1, "wakes fold into one")
}

// What agents report about a service's tasks, and instance changes, wake
// the scheduler, through Update and Batch alike; its own writes (new PENDING tasks, stop requests) and
// other tasks do not.
func TestWatchWakesOnAgentReportsOnly(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	defer st.Close()
	woken := 0
	w := Watch(st, func() { woken++ })
	svcTask := store.Task{Cluster: "c", ID: "1", Group: "service:web", LastStatus: store.TaskPending, DesiredStatus: store.TaskRunning}
	cases := []struct {
		name  string
		write func(tx store.Tx) error
		wakes bool
	}{
		{"a new PENDING service task", func(tx store.Tx) error { return tx.PutTask(svcTask) }, false},
		{"a service task RUNNING", func(tx store.Tx) error {
			t := svcTask
			t.LastStatus = store.TaskRunning
			return tx.PutTask(t)
		}, true},
		{"a stop request", func(tx store.Tx) error {
			t := svcTask
			t.LastStatus, t.DesiredStatus = store.TaskRunning, store.TaskStopped
			return tx.PutTask(t)
		}, false},
		{"a service task STOPPED", func(tx store.Tx) error {
			t := svcTask
			t.LastStatus, t.DesiredStatus = store.TaskStopped, store.TaskStopped
			return tx.PutTask(t)
		}, true},
		{"a standalone task STOPPED", func(tx store.Tx) error {
			return tx.PutTask(store.Task{Cluster: "c", ID: "2", Group: "family:x", LastStatus: store.TaskStopped})
		}, false},
		{"an instance", func(tx store.Tx) error { return tx.PutInstance(store.ContainerInstance{Cluster: "c", ID: "i"}) }, true},
	}
	for _, write := range []func(func(store.Tx) error) error{w.Update, w.Batch} {
		for _, c := range cases {
			before := woken
			require.NoError(t, write(c.write), c.name)
			assert.Equal(t, c.wakes, woken > before, c.name)
		}
	}
}

// Rounds that are woken again and again are spaced by twice as long as
// each took: the scheduler works at most a third of the time.
func TestDriverRestsAsLongAsARoundTook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const took = 40 * time.Millisecond
		var starts []time.Duration
		began := time.Now()
		var d *Driver
		d = NewDriver(DriverOptions{Interval: time.Hour, Reconcile: func(context.Context) error {
			starts = append(starts, time.Since(began))
			time.Sleep(took) // the round's work
			d.Wake()         // a report arrived meanwhile, as in a rollout
			return nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		d.Run(ctx)
		assert.Equal(t, []time.Duration{0, 120 * time.Millisecond, 240 * time.Millisecond}, starts)
	})
}
