package wire

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkEncodeFrame is the cost of one full PublishMetricsRequest frame
// (10 tasks, the per-message maximum): encode and SigV4-sign.
func BenchmarkEncodeFrame(b *testing.B) {
	set := &CWStatsSet{Min: 0.5, Max: 12.25, Sum: 80, SampleCount: 20}
	ul := &ULongStatsSet{Min: 0, Max: 4096, Sum: 40960, SampleCount: 20}
	msg := PublishMetricsRequest{
		Metadata:  &MetricsMetadata{Cluster: "default", ContainerInstance: "arn:ci", MessageID: "m", Fin: true},
		Timestamp: At(testTime),
	}
	for i := range 10 {
		msg.TaskMetrics = append(msg.TaskMetrics, TaskMetric{
			TaskARN: fmt.Sprintf("arn:aws:ecs:us-west-2:123456789012:task/default/%032d", i),
			ContainerMetrics: []ContainerMetric{{ContainerName: "app", CPUStatsSet: set, MemoryStatsSet: set,
				NetworkStatsSet: &NetworkStatsSet{RxBytes: ul, TxBytes: ul, RxPackets: ul, TxPackets: ul},
				StorageStatsSet: &StorageStatsSet{ReadSizeBytes: ul, WriteSizeBytes: ul}}},
		})
	}
	s := testSigner("TOKEN")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.EncodeFrame(ctx, msg, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
