package tcs

import (
	"encoding/json"
	"fmt"

	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Batching limits (reference §6): TCS takes at most 10 tasks and 1 MiB per
// metrics or health request.
const (
	maxTasksPerMessage = 10
	maxMessageBytes    = 1 << 20
)

// tooLargeError reports a task whose metrics alone exceed maxMessageBytes:
// it cannot be sent, and is reported rather than silently left out.
type tooLargeError struct {
	taskARN string
	size    int
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the metrics of task %s are %d bytes, over the %d-byte message limit; not sent", e.taskARN, e.size, maxMessageBytes)
}

// metricsRequests splits tasks into PublishMetricsRequests of at most
// maxTasksPerMessage tasks and maxMessageBytes of envelope each, in order,
// all with meta's messageId; the last has fin=true. No task at all gives one
// idle request (idle=true, fin=true). A task too large for any message is
// left out and returned as an error.
func metricsRequests(meta wire.MetricsMetadata, tasks []wire.TaskMetric, ts wire.Timestamp) ([]*wire.PublishMetricsRequest, []error) {
	newReq := func(batch []wire.TaskMetric) *wire.PublishMetricsRequest {
		m := meta
		m.Idle, m.Fin = false, false
		return &wire.PublishMetricsRequest{Metadata: &m, TaskMetrics: batch, Timestamp: ts}
	}
	if len(tasks) == 0 {
		m := meta
		m.Idle, m.Fin = true, true
		return []*wire.PublishMetricsRequest{{Metadata: &m, Timestamp: ts}}, nil
	}
	base := envelopeSize(newReq(nil))
	var errs []error
	groups := group(len(tasks), base, func(i int) int { return jsonSize(tasks[i]) }, func(i, size int) {
		errs = append(errs, &tooLargeError{taskARN: tasks[i].TaskARN, size: size})
	})
	out := make([]*wire.PublishMetricsRequest, 0, len(groups))
	for _, g := range groups {
		batch := make([]wire.TaskMetric, 0, len(g))
		for _, i := range g {
			batch = append(batch, tasks[i])
		}
		out = append(out, newReq(batch))
	}
	if len(out) > 0 {
		out[len(out)-1].Metadata.Fin = true
	}
	return out, errs
}

// healthRequests splits tasks into PublishHealthRequests as metricsRequests
// does. No task gives no request: there is no idle health message.
func healthRequests(meta wire.HealthMetadata, tasks []wire.TaskHealth, ts wire.Timestamp) ([]*wire.PublishHealthRequest, []error) {
	newReq := func(batch []wire.TaskHealth) *wire.PublishHealthRequest {
		m := meta
		m.Fin = false
		return &wire.PublishHealthRequest{Metadata: &m, Tasks: batch, Timestamp: ts}
	}
	base := envelopeSize(newReq(nil))
	var errs []error
	groups := group(len(tasks), base, func(i int) int { return jsonSize(tasks[i]) }, func(i, size int) {
		errs = append(errs, &tooLargeError{taskARN: tasks[i].TaskARN, size: size})
	})
	out := make([]*wire.PublishHealthRequest, 0, len(groups))
	for _, g := range groups {
		batch := make([]wire.TaskHealth, 0, len(g))
		for _, i := range g {
			batch = append(batch, tasks[i])
		}
		out = append(out, newReq(batch))
	}
	if len(out) > 0 {
		out[len(out)-1].Metadata.Fin = true
	}
	return out, errs
}

// listOverhead is what a non-empty task list adds to an envelope besides
// its items: `,"taskMetrics":[` and `]` (or "tasks"); taking the longer key
// keeps the estimate an upper bound for both.
var listOverhead = len(`,"taskMetrics":[]`)

// group assigns items 0..n-1, in order, to groups of at most
// maxTasksPerMessage items whose envelope (base bytes, plus the list, plus
// items and commas) stays within maxMessageBytes. An item that does not fit
// even alone is passed to tooLarge and left out.
func group(n, base int, size func(i int) int, tooLarge func(i, size int)) [][]int {
	var out [][]int
	var cur []int
	curBytes := 0
	for i := range n {
		sz := size(i)
		if base+listOverhead+sz > maxMessageBytes {
			tooLarge(i, sz)
			continue
		}
		next := curBytes + sz
		if len(cur) > 0 {
			next++ // the comma
		}
		if len(cur) == maxTasksPerMessage || base+listOverhead+next > maxMessageBytes {
			out = append(out, cur)
			cur, next = nil, sz
		}
		cur = append(cur, i)
		curBytes = next
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// envelopeSize is the encoded size of msg in its envelope.
func envelopeSize(msg wire.Message) int {
	b, err := wire.Encode(msg)
	if err != nil {
		return 0
	}
	return len(b)
}

// jsonSize is the encoded size of v.
func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}
