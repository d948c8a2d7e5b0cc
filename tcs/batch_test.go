package tcs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/tcs/wire"
)

func taskMetrics(n int, padding int) []wire.TaskMetric {
	out := make([]wire.TaskMetric, n)
	for i := range out {
		out[i] = wire.TaskMetric{
			TaskARN:          fmt.Sprintf("arn:aws:ecs:us-west-2:123456789012:task/default/%032d", i),
			ContainerMetrics: []wire.ContainerMetric{{ContainerName: strings.Repeat("c", padding), CPUStatsSet: &wire.CWStatsSet{SampleCount: 20}}},
		}
	}
	return out
}

var testMeta = wire.MetricsMetadata{Cluster: "default", ContainerInstance: testInstanceARN, MessageID: "m-1"}

func TestMetricsBatchesOfTenTasks(t *testing.T) {
	ts := wire.At(time.Unix(1704164645, 0))
	reqs, errs := metricsRequests(testMeta, taskMetrics(25, 10), ts)
	require.Empty(t, errs)
	require.Len(t, reqs, 3)
	var arns []string
	for i, r := range reqs {
		assert.Equal(t, "m-1", r.Metadata.MessageID, "one message ID for the whole batch")
		assert.False(t, r.Metadata.Idle)
		assert.Equal(t, i == 2, r.Metadata.Fin, "fin marks the last message only")
		assert.Equal(t, ts, r.Timestamp)
		for _, tm := range r.TaskMetrics {
			arns = append(arns, tm.TaskARN)
		}
	}
	assert.Len(t, reqs[0].TaskMetrics, 10)
	assert.Len(t, reqs[1].TaskMetrics, 10)
	assert.Len(t, reqs[2].TaskMetrics, 5)
	assert.Len(t, arns, 25, "every task once, in order")
	assert.Equal(t, taskMetrics(25, 10)[24].TaskARN, arns[24])

	reqs, _ = metricsRequests(testMeta, taskMetrics(10, 10), ts)
	require.Len(t, reqs, 1, "exactly ten tasks fit one message")
	assert.True(t, reqs[0].Metadata.Fin)
}

func TestMetricsIdle(t *testing.T) {
	reqs, errs := metricsRequests(testMeta, nil, wire.Timestamp{})
	require.Empty(t, errs)
	require.Len(t, reqs, 1)
	assert.True(t, reqs[0].Metadata.Idle)
	assert.True(t, reqs[0].Metadata.Fin)
	assert.Empty(t, reqs[0].TaskMetrics)
}

// Tasks of about 300 KiB each: three fit in 1 MiB, a fourth would not.
func TestMetricsBatchesWithinOneMiB(t *testing.T) {
	tasks := taskMetrics(7, 300<<10)
	reqs, errs := metricsRequests(testMeta, tasks, wire.At(time.Now()))
	require.Empty(t, errs)
	require.Len(t, reqs, 3)
	n := 0
	for _, r := range reqs {
		env, err := wire.Encode(r)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(env), maxMessageBytes, "each envelope is at most 1 MiB")
		n += len(r.TaskMetrics)
	}
	assert.Equal(t, 7, n)
	assert.Len(t, reqs[0].TaskMetrics, 3)
}

func TestMetricsTaskTooLargeIsReported(t *testing.T) {
	tasks := append(taskMetrics(1, 10), taskMetrics(1, maxMessageBytes)...)
	tasks[1].TaskARN = "arn:huge"
	tasks = append(tasks, taskMetrics(1, 10)...)
	reqs, errs := metricsRequests(testMeta, tasks, wire.At(time.Now()))
	require.Len(t, errs, 1)
	var tl *tooLargeError
	require.True(t, errors.As(errs[0], &tl))
	assert.Equal(t, "arn:huge", tl.taskARN)
	assert.Contains(t, errs[0].Error(), "arn:huge")
	require.Len(t, reqs, 1)
	assert.Len(t, reqs[0].TaskMetrics, 2, "the others are still sent")
}

func TestHealthBatches(t *testing.T) {
	tasks := make([]wire.TaskHealth, 12)
	for i := range tasks {
		tasks[i] = wire.TaskHealth{TaskARN: fmt.Sprint("t", i), Containers: []wire.ContainerHealth{{ContainerName: "app", HealthStatus: wire.HealthStatusHealthy}}}
	}
	meta := wire.HealthMetadata{Cluster: "default", ContainerInstance: testInstanceARN, MessageID: "h-1"}
	reqs, errs := healthRequests(meta, tasks, wire.Timestamp{})
	require.Empty(t, errs)
	require.Len(t, reqs, 2)
	assert.Len(t, reqs[0].Tasks, 10)
	assert.False(t, reqs[0].Metadata.Fin)
	assert.Len(t, reqs[1].Tasks, 2)
	assert.True(t, reqs[1].Metadata.Fin)

	reqs, _ = healthRequests(meta, nil, wire.Timestamp{})
	assert.Empty(t, reqs, "no health-checked container: no health message")
}
