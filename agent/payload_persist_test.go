package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/statemanager/statetest"
)

// addResults passes AddTask to the real engine and keeps what it returned,
// so the test knows when the handler has had its answer.
type addResults struct {
	taskAdder
	mu   sync.Mutex
	errs []error
}

func (a *addResults) AddTask(ctx context.Context, t *wire.Task) error {
	err := a.taskAdder.AddTask(ctx, t)
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
	return err
}

func (a *addResults) results() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// DESIGN invariant 3 through the real engine and the real ACS handler: a
// payload whose task cannot be persisted is neither acknowledged nor run,
// and the redelivered payload is taken once the disk works again.
func TestPayloadNotAckedNorRunWhenPersistFails(t *testing.T) {
	rt := enginetest.NewFake()
	rt.SetImage("busybox:latest")
	store := statetest.NewFaulty(statemanager.NewMemory())
	cfg := config.Default()
	log := slog.New(slog.NewTextHandler(newTestWriter(t), nil))
	ts, err := newTaskSystem(engineDeps{Runtime: rt, Store: store, Config: cfg, Logger: log,
		Resources: HostResources{CPU: 2048, MemoryMiB: 4096}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	sup := newSupervisor(ctx, log)
	t.Cleanup(func() { cancel(); sup.stop(engineShutdownGrace) })
	require.NoError(t, startTaskSystem(ctx, sup, ts, log))
	eng := &addResults{taskAdder: ts.Engine}
	snd := &fakeSender{}
	h := newACSHandler(eng, snd, log)
	sup.start("payloads", h.Run)

	const arn = "arn:aws:ecs:us-west-2:123456789012:task/default/0badd15c0badd15c"
	run := wire.Task{ARN: arn, Family: "web", Version: "1", DesiredStatus: "RUNNING",
		Containers: []wire.Container{{Name: "app", Image: "busybox:latest", Essential: true, Memory: 32, Command: []string{"sleep", "3600"}}}}

	diskFull := errors.New("write /var/lib/ecs/data/agent.db: no space left on device")
	store.FailAfter(0, diskFull)
	h.Handle(ctx, payload("m1", run))
	require.Eventually(t, func() bool { return len(eng.results()) == 1 }, 10*time.Second, time.Millisecond)
	require.ErrorIs(t, eng.results()[0], diskFull, "AddTask reports the failed persist")
	assert.Positive(t, store.Failed())
	assert.Empty(t, ts.Engine.Snapshot(), "the engine does not keep a task it could not persist")
	assert.Empty(t, ts.Engine.Reports())
	for _, call := range []string{"PullImage", "CreateContainer", "StartContainer"} {
		assert.Zero(t, rt.Calls(call), "%s: the task does not run", call)
	}

	store.Heal()
	h.Handle(ctx, payload("m1", run)) // ACS redelivers what was not acknowledged
	require.Eventually(t, func() bool { return len(snd.messages()) == 1 }, 10*time.Second, time.Millisecond)
	// The handler takes payloads in order: the redelivery's ack is the
	// only one, so the failed attempt sent none.
	assert.Equal(t, []any{wire.AckRequest{Cluster: "arn:cluster/c", ContainerInstance: "arn:ci/1", MessageID: "m1"}}, snd.messages())
	require.Eventually(t, func() bool {
		snaps := ts.Engine.Snapshot()
		return len(snaps) == 1 && snaps[0].KnownStatus == "RUNNING"
	}, 10*time.Second, time.Millisecond)
	assert.Len(t, rt.Containers(), 1)
	var stored map[string]any
	require.NoError(t, store.Get(statemanager.BucketTasks, "0badd15c0badd15c", &stored), "persisted")
}
