package engine

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkTaskStart measures the engine's own overhead from AddTask to a
// RUNNING report for a two-container task on the fake runtime.
func BenchmarkTaskStart(b *testing.B) {
	h := newHarness(&testing.T{})
	e, err := New(Options{Runtime: h.rt, Images: h.images, Store: h.store, Config: h.cfg,
		PortFree: func(string, uint16) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-e.Ready()
	b.ResetTimer()
	for i := range b.N {
		task := newTask(fmt.Sprintf("bench-%d", i), "main", "side")
		if err := e.AddTask(ctx, task); err != nil {
			b.Fatal(err)
		}
		for {
			r, ok := running(e, task.ARN)
			if ok {
				if err := e.MarkReported(ctx, task.ARN, r.Version); err != nil {
					b.Fatal(err)
				}
				break
			}
			<-e.ReportsChanged()
		}
	}
}

func running(e *Engine, arn string) (TaskReport, bool) {
	for _, r := range e.Reports() {
		if r.TaskARN == arn && r.Status == StatusRunning {
			return r, true
		}
	}
	return TaskReport{}, false
}
