package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/agent/statechange"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// TestPayloadToStateChangeWithTheRealEngine runs the agent's task path with
// the real engine and image manager over the fake runtime: a payload is
// persisted and acknowledged, its task runs, RUNNING and then STOPPED reach
// ECS, and a redelivered payload creates nothing twice.
func TestPayloadToStateChangeWithTheRealEngine(t *testing.T) {
	stub := newECSStub(t)
	api := testECSClient(t, stub.URL())
	rt := enginetest.NewFake()
	rt.SetImage("busybox:latest")
	rt.SetProgram("busybox:latest", enginetest.Program{}) // its containers run until stopped
	cfg := config.Default()
	log := slog.New(slog.NewTextHandler(newTestWriter(t), nil))

	ts, err := newTaskSystem(engineDeps{Runtime: rt, Store: statemanager.NewMemory(), Config: cfg, Logger: log,
		Resources: HostResources{CPU: 2048, MemoryMiB: 4096, PortsTCP: cfg.ReservedPorts}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	sup := newSupervisor(ctx, log)
	t.Cleanup(func() { cancel(); sup.stop(engineShutdownGrace) })
	require.NoError(t, startTaskSystem(ctx, sup, ts, log))
	sup.start("statechange", statechange.New(statechange.Options{Source: ts.Engine, API: api, Cluster: "default",
		BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond, Logger: log}).Run)
	snd := &fakeSender{}
	h := newACSHandler(ts.Engine, snd, log)
	sup.start("payloads", h.Run)

	const arn = "arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef"
	run := wire.Task{ARN: arn, Family: "web", Version: "1", DesiredStatus: "RUNNING",
		Containers: []wire.Container{{Name: "app", Image: "busybox:latest", Essential: true, Memory: 32}}}
	h.Handle(ctx, payload("m1", run))
	h.Handle(ctx, payload("m1", run)) // redelivered before the ack arrived

	require.Eventually(t, func() bool { return len(snd.messages()) == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, wire.AckRequest{Cluster: "arn:cluster/c", ContainerInstance: "arn:ci/1", MessageID: "m1"}, snd.messages()[0])
	require.Eventually(t, func() bool { return lastStatus(stub, arn) == "RUNNING" }, 10*time.Second, time.Millisecond)
	assert.Len(t, rt.Containers(), 1, "the redelivered payload created nothing")

	stop := run
	stop.DesiredStatus = "STOPPED"
	h.Handle(ctx, payload("m2", stop))
	require.Eventually(t, func() bool { return lastStatus(stub, arn) == "STOPPED" }, 10*time.Second, time.Millisecond)
	assert.Len(t, snd.messages(), 3)
	snaps := ts.Engine.Snapshot()
	require.Len(t, snaps, 1)
	assert.Equal(t, "STOPPED", snaps[0].KnownStatus)
}

func lastStatus(s *ecsStub, arn string) string {
	var status string
	for _, in := range s.stateChanges() {
		if in["task"] == arn {
			status, _ = in["status"].(string)
		}
	}
	return status
}

// testWriter sends log lines to t.Log until the test's cleanup is over; a
// straggling goroutine's line after that is dropped instead of panicking.
type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func newTestWriter(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) }) // registered first: runs last
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
