package telemetry

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkPutMetrics100Tasks stores one publish round of 10 instances with
// 10 one-container tasks each (what 100 running tasks send every 20 s), and
// reports the heap the store holds for them.
func BenchmarkPutMetrics100Tasks(b *testing.B) {
	rounds := make([][]TaskMetrics, 10)
	instances := make([]string, 10)
	for i := range rounds {
		instances[i] = fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:container-instance/default/%032d", i)
		for j := range 10 {
			rounds[i] = append(rounds[i], TaskMetrics{Task: task(fmt.Sprintf("%030d%02d", i, j), instances[i]),
				Containers: []ContainerMetrics{cpu(float64(j))}})
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(Options{})
	n := 0
	for b.Loop() {
		n++
		for i, tasks := range rounds {
			s.PutMetrics(instances[i], Batch{ID: fmt.Sprint(n), Last: true}, tasks)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tasks, _ := s.Len(); tasks != 100 {
		b.Fatalf("%d tasks held, want 100", tasks)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1024, "heap-KiB-held")
	runtime.KeepAlive(s)
}
