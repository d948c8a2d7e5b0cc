package tcsserver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const (
	// maxTasksPerPublish is the model's bound on taskMetrics (TaskMetrics
	// max 10); health batches follow the same rule in the agents.
	maxTasksPerPublish = 10
	// maxContainersPerTask bounds one task's entries: ECS allows 10
	// container definitions per task definition.
	maxContainersPerTask = 10
	// maxTextBytes bounds a status message or reason kept from an agent.
	maxTextBytes = 1024
	// maxCheckTypeBytes bounds an instance check's type name.
	maxCheckTypeBytes = 64
	// lookupTimeout bounds the store read behind one frame.
	lookupTimeout = 5 * time.Second
)

func (s *session) publishMetrics(m *wire.PublishMetricsRequest) (wire.Message, *refusal) {
	meta := m.Metadata
	if meta == nil {
		return nil, invalidParam("metadata", "metadata is required")
	}
	if ref := s.checkMetadata(meta.Cluster, meta.ContainerInstance); ref != nil {
		return nil, ref
	}
	if meta.MessageID == "" {
		return nil, invalidParam("messageId", "metadata.messageId is required")
	}
	if len(m.TaskMetrics) > maxTasksPerPublish {
		return nil, invalidParam("tasks", "taskMetrics has %d tasks; at most %d per message (send the rest in more messages with the same messageId)",
			len(m.TaskMetrics), maxTasksPerPublish)
	}
	// Check every field first: a refused frame leaves nothing behind.
	arns := make([]string, len(m.TaskMetrics))
	containers := make([][]telemetry.ContainerMetrics, len(m.TaskMetrics))
	for i, tm := range m.TaskMetrics {
		arns[i] = tm.TaskARN
		if len(tm.ContainerMetrics) > maxContainersPerTask {
			return nil, invalidParam("containers", "taskMetrics[%d].containerMetrics has %d containers; a task has at most %d",
				i, len(tm.ContainerMetrics), maxContainersPerTask)
		}
		for j, cm := range tm.ContainerMetrics {
			c, ref := containerMetrics(fmt.Sprintf("taskMetrics[%d].containerMetrics[%d]", i, j), cm)
			if ref != nil {
				return nil, ref
			}
			containers[i] = append(containers[i], c)
		}
	}
	tasks, ref := s.resolve("taskMetrics", arns)
	if ref != nil {
		return nil, ref
	}
	var out []telemetry.TaskMetrics
	for i, arn := range arns {
		task, ok := tasks[arn]
		if !ok {
			continue
		}
		put := telemetry.TaskMetrics{Task: task.Task}
		for _, c := range containers[i] {
			if s.hasContainer(task, c.Name) {
				put.Containers = append(put.Containers, c)
			}
		}
		out = append(out, put)
	}
	n := s.srv.o.Sink.PutMetrics(s.arn, telemetry.Batch{ID: meta.MessageID, Last: meta.Fin || meta.Idle}, out)
	s.drop(slog.LevelWarn, n, "full", "dropped TCS metrics: the control plane's telemetry store is full")
	return &wire.AckPublishMetric{Message: meta.MessageID}, nil
}

// containerMetrics converts and checks one container's stats sets.
func containerMetrics(field string, cm wire.ContainerMetric) (telemetry.ContainerMetrics, *refusal) {
	c := telemetry.ContainerMetrics{Name: cm.ContainerName}
	if c.Name == "" {
		return c, invalidParam("containerName", "%s.containerName is required", field)
	}
	var ref *refusal
	if c.CPU, ref = statsSet(field+".cpuStatsSet", cm.CPUStatsSet); ref != nil {
		return c, ref
	}
	if c.MemoryMiB, ref = statsSet(field+".memoryStatsSet", cm.MemoryStatsSet); ref != nil {
		return c, ref
	}
	if n := cm.NetworkStatsSet; n != nil && (n.RxBytes != nil || n.TxBytes != nil) {
		c.Network = &telemetry.Network{}
		if c.Network.RxBytes, ref = counter(field+".networkStatsSet.rxBytes", n.RxBytes); ref != nil {
			return c, ref
		}
		if c.Network.TxBytes, ref = counter(field+".networkStatsSet.txBytes", n.TxBytes); ref != nil {
			return c, ref
		}
	}
	return c, nil
}

// statsSet converts a CWStatsSet; one without samples carries no value.
func statsSet(field string, in *wire.CWStatsSet) (*telemetry.Stats, *refusal) {
	if in == nil {
		return nil, nil
	}
	if in.SampleCount < 0 || in.Min < 0 || in.Max < 0 || in.Sum < 0 {
		return nil, invalidParam("negative", "%s: min, max, sum and sampleCount must not be negative (got %v, %v, %v, %d)",
			field, in.Min, in.Max, in.Sum, in.SampleCount)
	}
	if in.SampleCount == 0 {
		return nil, nil
	}
	return &telemetry.Stats{Min: in.Min, Max: in.Max, Sum: in.Sum, Samples: in.SampleCount}, nil
}

// counter is the increase a ULongStatsSet sums up over the window.
func counter(field string, in *wire.ULongStatsSet) (uint64, *refusal) {
	if in == nil {
		return 0, nil
	}
	if in.Sum < 0 {
		return 0, invalidParam("negative", "%s.sum must not be negative (got %d)", field, in.Sum)
	}
	return uint64(in.Sum), nil
}

func (s *session) publishHealth(m *wire.PublishHealthRequest) (wire.Message, *refusal) {
	meta := m.Metadata
	if meta == nil {
		return nil, invalidParam("metadata", "metadata is required")
	}
	if ref := s.checkMetadata(meta.Cluster, meta.ContainerInstance); ref != nil {
		return nil, ref
	}
	if meta.MessageID == "" {
		return nil, invalidParam("messageId", "metadata.messageId is required")
	}
	if len(m.Tasks) > maxTasksPerPublish {
		return nil, invalidParam("tasks", "tasks has %d tasks; at most %d per message (send the rest in more messages with the same messageId)",
			len(m.Tasks), maxTasksPerPublish)
	}
	// Check every field first: a refused frame leaves nothing behind.
	arns := make([]string, len(m.Tasks))
	containers := make([][]telemetry.ContainerHealth, len(m.Tasks))
	for i, th := range m.Tasks {
		arns[i] = th.TaskARN
		if len(th.Containers) > maxContainersPerTask {
			return nil, invalidParam("containers", "tasks[%d].containers has %d containers; a task has at most %d",
				i, len(th.Containers), maxContainersPerTask)
		}
		for j, ch := range th.Containers {
			field := fmt.Sprintf("tasks[%d].containers[%d]", i, j)
			status := string(ch.HealthStatus)
			switch {
			case ch.ContainerName == "":
				return nil, invalidParam("containerName", "%s.containerName is required", field)
			case status != telemetry.Healthy && status != telemetry.Unhealthy && status != telemetry.Unknown:
				return nil, invalidParam("healthStatus", "%s.healthStatus %q: want HEALTHY, UNHEALTHY or UNKNOWN", field, status)
			}
			containers[i] = append(containers[i], telemetry.ContainerHealth{
				Name: ch.ContainerName, Status: status, Since: ch.StatusSince.Time, Message: truncate(ch.StatusMessage, maxTextBytes),
			})
		}
	}
	tasks, ref := s.resolve("tasks", arns)
	if ref != nil {
		return nil, ref
	}
	var out []telemetry.TaskHealth
	for i, arn := range arns {
		task, ok := tasks[arn]
		if !ok {
			continue
		}
		put := telemetry.TaskHealth{Task: task.Task}
		for _, c := range containers[i] {
			if s.hasContainer(task, c.Name) {
				put.Containers = append(put.Containers, c)
			}
		}
		out = append(out, put)
	}
	n := s.srv.o.Sink.PutHealth(s.arn, telemetry.Batch{ID: meta.MessageID, Last: meta.Fin}, out)
	s.drop(slog.LevelWarn, n, "full", "dropped TCS health: the control plane's telemetry store is full")
	return &wire.AckPublishHealth{Message: meta.MessageID}, nil
}

func (s *session) publishInstanceStatus(m *wire.PublishInstanceStatusRequest) (wire.Message, *refusal) {
	meta := m.Metadata
	if meta == nil {
		return nil, invalidParam("metadata", "metadata is required")
	}
	if ref := s.checkMetadata(meta.Cluster, meta.ContainerInstance); ref != nil {
		return nil, ref
	}
	statuses := make([]telemetry.InstanceStatus, 0, len(m.Statuses))
	for i, st := range m.Statuses {
		status := string(st.Status)
		switch status {
		case telemetry.StatusOK, telemetry.StatusImpaired, telemetry.StatusInsufficientData, telemetry.StatusInitializing:
		default:
			return nil, invalidParam("status", "statuses[%d].status %q: want OK, IMPAIRED, INSUFFICIENT_DATA or INITIALIZING", i, status)
		}
		if st.Type == "" || len(st.Type) > maxCheckTypeBytes {
			return nil, invalidParam("statusType", "statuses[%d].type must have 1 to %d characters (got %d)", i, maxCheckTypeBytes, len(st.Type))
		}
		statuses = append(statuses, telemetry.InstanceStatus{
			Type: st.Type, Status: status, Reason: truncate(st.StatusReason, maxTextBytes),
			LastUpdated: st.LastUpdated.Time, LastStatusChange: st.LastStatusChange.Time,
		})
	}
	n := s.srv.o.Sink.PutInstanceStatus(s.arn, statuses)
	s.drop(slog.LevelWarn, n, "checks", "dropped instance checks: at most 16 kinds are kept per instance")
	return &wire.AckPublishInstanceStatus{Message: meta.RequestID}, nil
}

// resolve looks the tasks a publish names up in the control plane's store.
// A task placed on another instance refuses the frame; a task the store does
// not know (any more), or that stopped, is left out of the result.
func (s *session) resolve(field string, arns []string) (map[string]Task, *refusal) {
	if len(arns) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	known, err := s.srv.o.Registry.Tasks(ctx, arns)
	if err != nil {
		s.log.Error("could not look up the tasks of a TCS publish", logging.KeyError, err)
		return nil, &refusal{code: codeServer, key: "lookup", message: "the control plane could not read its tasks; publish again"}
	}
	for i, arn := range arns {
		if t, ok := known[arn]; ok && t.Instance != s.arn {
			return nil, badRequest("another-instance", "%s[%d].taskArn %s runs on container instance %s, not on %s, the instance of this session",
				field, i, arn, t.Instance, s.arn)
		}
	}
	usable := make(map[string]Task, len(arns))
	for _, arn := range arns {
		t, ok := known[arn]
		switch {
		case !ok:
			s.drop(slog.LevelInfo, 1, "unknown-task", "dropped TCS data for a task the control plane does not know", logging.KeyTask, arn)
		case t.Stopped:
			s.drop(slog.LevelDebug, 1, "stopped-task", "dropped TCS data for a stopped task", logging.KeyTask, arn)
		default:
			usable[arn] = t
		}
	}
	return usable, nil
}

// hasContainer reports whether the task has the container; data for one it
// does not have is dropped and counted.
func (s *session) hasContainer(task Task, name string) bool {
	if slices.Contains(task.Containers, name) {
		return true
	}
	s.drop(slog.LevelWarn, 1, "container", "dropped TCS data for a container its task does not have",
		logging.KeyTask, task.ARN, logging.KeyContainer, name)
	return false
}

// truncate keeps at most n bytes of s, cut at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
