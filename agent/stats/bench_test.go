package stats

import (
	"fmt"
	"testing"

	"github.com/open-ecs/ecs-agent/engine"
)

// benchCollector is a collector over 100 one-container tasks whose rings
// each hold a full 20 s publish interval of samples.
func benchCollector(b *testing.B) *Collector {
	tasks := &fakeTasks{}
	var snap []engine.TaskSnapshot
	for i := range 100 {
		snap = append(snap, task(fmt.Sprintf("arn:task/%03d", i), running("app", fmt.Sprintf("c%03d", i))))
	}
	tasks.set(snap...)
	c := New(Options{Tasks: tasks, Cluster: "default"})
	c.refresh()
	return c
}

// BenchmarkAddSample is the collector's cost per Docker stats sample.
func BenchmarkAddSample(b *testing.B) {
	c := benchCollector(b)
	i := 0
	for b.Loop() {
		i++
		c.add("c000", sample(float64(i), uint64(i)*10, 8<<20, uint64(i)*1000, uint64(i)*500, 0, 0))
	}
}

// BenchmarkTaskMetrics100 is one publish round's stats sets for 100 tasks,
// 20 samples each.
func BenchmarkTaskMetrics100(b *testing.B) {
	c := benchCollector(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range 100 {
			for s := range 21 {
				c.add(fmt.Sprintf("c%03d", i), sample(float64(s), uint64(s)*10, 8<<20, uint64(s)*1000, 0, 0, 0))
			}
		}
		b.StartTimer()
		if got := c.TaskMetrics(); len(got) != 100 {
			b.Fatalf("got %d task metrics", len(got))
		}
		b.StopTimer()
		c = benchCollector(b)
		b.StartTimer()
	}
}
