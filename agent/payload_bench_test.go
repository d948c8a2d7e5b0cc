package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// BenchmarkPayload100Tasks measures how long a 100-task PayloadMessage takes
// from Handle to its ack with the real engine on agent.db (bbolt, fsync)
// and the fake runtime: the agent's own share of a burst's latency.
func BenchmarkPayload100Tasks(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		store, err := openBenchStore(b)
		if err != nil {
			b.Fatal(err)
		}
		rt := enginetest.NewFake()
		rt.SetImage("busybox:latest")
		rt.SetProgram("busybox:latest", enginetest.Program{}) // its containers run until stopped
		log := slog.New(slog.DiscardHandler)
		ts, err := newTaskSystem(engineDeps{Runtime: rt, Store: store, Config: config.Default(), Logger: log,
			Resources: HostResources{CPU: 1 << 20, MemoryMiB: 1 << 20}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		sup := newSupervisor(ctx, log)
		if err := startTaskSystem(ctx, sup, ts, log); err != nil {
			b.Fatal(err)
		}
		snd := ackSignal(make(chan struct{}, 1))
		h := newACSHandler(ts.Engine, snd, log)
		sup.start("payloads", h.Run)
		tasks := make([]wire.Task, 100)
		for i := range tasks {
			tasks[i] = wire.Task{ARN: fmt.Sprintf("arn:aws:ecs:us-west-2:1:task/c/%032d", i), Family: "f", Version: "1",
				DesiredStatus: "RUNNING", Containers: []wire.Container{{Name: "app", Image: "busybox:latest", Essential: true,
					Memory: 8}}}
		}
		b.StartTimer()

		h.Handle(ctx, payload("burst", tasks...))
		<-snd

		b.StopTimer()
		cancel()
		sup.stop(engineShutdownGrace)
		_ = store.Close()
		b.StartTimer()
	}
}

func openBenchStore(b *testing.B) (statemanager.Store, error) {
	if os.Getenv("BENCH_MEMORY_STORE") != "" {
		return statemanager.NewMemory(), nil
	}
	return statemanager.OpenBolt(b.TempDir(), statemanager.BoltOptions{})
}

// ackSignal is an acsSender that signals each message sent.
type ackSignal chan struct{}

func (a ackSignal) Send(context.Context, any) error {
	a <- struct{}{}
	return nil
}
