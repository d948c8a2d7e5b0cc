package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// records is the task and its containers as agent.db stores them.
func (t *task) records() []statemanager.Record {
	recs := []statemanager.Record{{Bucket: statemanager.BucketTasks, Key: t.ID, Value: t}}
	for _, c := range t.Containers {
		recs = append(recs, statemanager.Record{
			Bucket: statemanager.BucketContainers,
			Key:    containerKey(t.ID, c.Name),
			Value:  containerRecord{DockerID: c.DockerID, DockerName: c.DockerName, Container: c},
		})
	}
	return recs
}

// load reads every stored task with its containers.
//
// A task some of whose container records are missing is logged and
// dropped: an agent before atomic deletes could leave one when it crashed
// in the middle of a cleanup, after its containers were removed. A record
// that cannot be decoded is not something a crash leaves; it stops the
// agent (statemanager.ErrCorrupt) rather than forget a task that may run.
//
// Each task's report baseline is recomputed from the loaded model, so a
// change in what a report holds (a field added in a newer agent) is not a
// change of the task: nothing is re-sent on upgrade.
func (e *Engine) load() ([]*task, error) {
	var tasks []*task
	var drop []statemanager.Change
	err := e.o.Store.ForEach(statemanager.BucketTasks, func(key string, raw []byte) error {
		t := &task{}
		if err := json.Unmarshal(raw, t); err != nil {
			return unreadable("task "+key, err)
		}
		t.ID = key
		var missing []string
		for _, name := range t.ContainerNames {
			var raw json.RawMessage
			err := e.o.Store.Get(statemanager.BucketContainers, containerKey(key, name), &raw)
			if errors.Is(err, statemanager.ErrNotFound) {
				missing = append(missing, name)
				continue
			}
			if err != nil {
				return fmt.Errorf("engine: load container %s of task %s: %w", name, key, err)
			}
			var rec containerRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return unreadable("container "+name+" of task "+key, err)
			}
			if rec.Container == nil {
				missing = append(missing, name)
				continue
			}
			rec.Container.DockerID, rec.Container.DockerName = rec.DockerID, rec.DockerName
			if rec.Container.EndpointID == "" {
				// Stored by an agent without the task metadata endpoint:
				// the container has no URI in its environment, but the
				// endpoint still lists it by an ID of its own.
				rec.Container.EndpointID = uuid.NewString()
			}
			t.Containers = append(t.Containers, rec.Container)
		}
		if len(missing) > 0 {
			e.log.Error("dropping a stored task whose container records are missing "+
				"(left by an agent that stopped in the middle of removing it)",
				logging.KeyTask, t.ARN, logging.KeyContainer, strings.Join(missing, ","),
				logging.KeyKnownStatus, t.KnownStatus.String())
			drop = append(drop, t.deletions()...)
			return nil
		}
		if t.LastReport != nil {
			rep := reportOf(t)
			rep.Version = t.ReportVersion
			t.LastReport = &rep
		}
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(drop) > 0 {
		if err := e.o.Store.Apply(drop...); err != nil {
			return nil, fmt.Errorf("engine: drop incomplete stored tasks: %w", err)
		}
	}
	e.log.Info("loaded tasks", logging.KeyCount, len(tasks))
	return tasks, nil
}

// unreadable is the load error for a record that cannot be decoded.
func unreadable(what string, err error) error {
	return fmt.Errorf("engine: %w: the stored %s cannot be read (%w); it was not written by this "+
		"version of the agent, or was edited (see \"State file\" in docs/operating.md)",
		statemanager.ErrCorrupt, what, err)
}

// save persists the task if anything changed and then publishes its report
// and snapshot. The report version is bumped when the reportable state
// changed, and is persisted before anyone can see it.
func (w *worker) save() error {
	t := w.t
	rep := reportOf(t)
	newRep, _ := json.Marshal(rep)
	var oldRep []byte
	if t.LastReport != nil {
		old := *t.LastReport
		old.Version = 0
		oldRep, _ = json.Marshal(old)
	}
	if !bytes.Equal(newRep, oldRep) {
		t.ReportVersion++
		rep.Version = t.ReportVersion
		t.LastReport = &rep
	}
	recs := t.records()
	raw, err := json.Marshal(recs)
	if err != nil {
		return fmt.Errorf("encode task %s: %w", t.ARN, err)
	}
	if !bytes.Equal(raw, w.lastSaved) {
		if err := w.e.o.Store.PutMany(recs...); err != nil {
			return fmt.Errorf("persist task %s: %w", t.ARN, err)
		}
		w.lastSaved = raw
	}
	w.e.publish(t.ARN, *t.LastReport, t.SentVersion, w.snapshot())
	return nil
}

// deleteRecords removes the task and its containers from agent.db in one
// transaction: a crash never leaves a task without its containers.
func (w *worker) deleteRecords() error {
	return w.e.o.Store.Apply(w.t.deletions()...)
}

// deletions are the changes that remove the task's records, containers
// first.
func (t *task) deletions() []statemanager.Change {
	var out []statemanager.Change
	for _, name := range t.ContainerNames {
		out = append(out, statemanager.Change{Bucket: statemanager.BucketContainers, Key: containerKey(t.ID, name), Delete: true})
	}
	return append(out, statemanager.Change{Bucket: statemanager.BucketTasks, Key: t.ID, Delete: true})
}

// reportOf is the task's reportable state, without a version. It is a
// function of the model alone: save compares it with the last one to
// decide whether the task changed, and load recomputes the last one.
func reportOf(t *task) TaskReport {
	r := TaskReport{
		TaskARN:            t.ARN,
		Status:             t.KnownStatus.backend(),
		Reason:             t.StopReason,
		PullStartedAt:      t.PullStartedAt,
		PullStoppedAt:      t.PullStoppedAt,
		ExecutionStoppedAt: t.ExecutionStoppedAt,
	}
	for _, c := range t.Containers {
		cr := ContainerReport{
			Name:        c.Name,
			RuntimeID:   c.DockerID,
			ImageDigest: c.ImageDigest,
			Status:      c.KnownStatus.backend(),
			Reason:      c.Reason,
		}
		if c.KnownExitCode != nil {
			code := *c.KnownExitCode
			cr.ExitCode = &code
		}
		// Ports are bound only once the container started; a container
		// whose start failed (say, its host port was taken) has none.
		if !c.StartedAt.IsZero() {
			cr.NetworkBindings = slices.Clone(c.KnownPortBindings)
		}
		r.Containers = append(r.Containers, cr)
	}
	return r
}

// snapshot is an immutable copy of the task for readers.
func (w *worker) snapshot() TaskSnapshot {
	t := w.t
	s := TaskSnapshot{
		ARN: t.ARN, ClusterARN: t.ClusterARN, Family: t.Family, Version: t.Version,
		DesiredStatus: t.DesiredStatus.backend(), KnownStatus: t.KnownStatus.backend(),
		NetworkMode: t.NetworkMode, CPU: float64(t.CPU) / 1024, MemoryMiB: t.MemoryMiB,
		PullStartedAt: t.PullStartedAt, PullStoppedAt: t.PullStoppedAt, ExecutionStoppedAt: t.ExecutionStoppedAt,
		ServiceName: t.ServiceName, Group: t.Group, LaunchType: t.LaunchType,
		RoleARN: t.RoleARN, CredentialsID: t.CredentialsID,
		ExecutionRoleARN: t.ExecutionRoleARN, ExecutionCredentialsID: t.ExecutionCredentialsID,
	}
	for _, c := range t.Containers {
		meta := c.dockerMeta()
		cs := ContainerSnapshot{
			Name: c.Name, DockerID: c.DockerID, DockerName: c.DockerName,
			Image: c.Image, ImageID: c.ImageID,
			DesiredStatus: c.DesiredStatus.backend(), KnownStatus: c.KnownStatus.backend(),
			CreatedAt: c.CreatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt,
			Volumes:      slices.Clone(c.Mounts),
			RestartCount: c.RestartCount, Health: c.Health,
			EndpointID: c.EndpointID, CPU: c.CPU, MemoryMiB: c.Memory,
			Labels:    maps.Clone(meta.labels),
			LogDriver: meta.logDriver, LogOptions: maps.Clone(meta.logOptions),
		}
		for k, v := range c.Labels {
			if cs.Labels == nil {
				cs.Labels = map[string]string{}
			}
			cs.Labels[k] = v
		}
		for _, n := range c.Networks {
			cs.Networks = append(cs.Networks, ContainerNetwork{Name: n.Name, IPv4Address: n.IPv4Address, IPv6Address: n.IPv6Address})
		}
		if !c.StartedAt.IsZero() {
			cs.Ports = slices.Clone(c.KnownPortBindings)
		}
		if c.KnownExitCode != nil {
			code := *c.KnownExitCode
			cs.ExitCode = &code
		}
		s.Containers = append(s.Containers, cs)
	}
	return s
}
