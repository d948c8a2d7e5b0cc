package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
func (e *Engine) load() ([]*task, error) {
	var tasks []*task
	err := e.o.Store.ForEach(statemanager.BucketTasks, func(key string, raw []byte) error {
		t := &task{}
		if err := json.Unmarshal(raw, t); err != nil {
			return fmt.Errorf("engine: decode stored task %s: %w", key, err)
		}
		t.ID = key
		for _, name := range t.ContainerNames {
			var rec containerRecord
			err := e.o.Store.Get(statemanager.BucketContainers, containerKey(key, name), &rec)
			if errors.Is(err, statemanager.ErrNotFound) || (err == nil && rec.Container == nil) {
				return fmt.Errorf("engine: stored task %s lacks container %q (agent.db is inconsistent; remove the task's records or the file)", key, name)
			}
			if err != nil {
				return fmt.Errorf("engine: load container %s of task %s: %w", name, key, err)
			}
			rec.Container.DockerID, rec.Container.DockerName = rec.DockerID, rec.DockerName
			t.Containers = append(t.Containers, rec.Container)
		}
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("loaded tasks", logging.KeyCount, len(tasks))
	return tasks, nil
}

// save persists the task if anything changed and then publishes its report
// and snapshot. The report version is bumped when the reportable state
// changed, and is persisted before anyone can see it.
func (w *worker) save() error {
	t := w.t
	rep := w.report()
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

// deleteRecords removes the task from agent.db.
func (w *worker) deleteRecords() error {
	t := w.t
	for _, c := range t.Containers {
		if err := w.e.o.Store.Delete(statemanager.BucketContainers, containerKey(t.ID, c.Name)); err != nil {
			return err
		}
	}
	return w.e.o.Store.Delete(statemanager.BucketTasks, t.ID)
}

// report is the task's reportable state, without a version.
func (w *worker) report() TaskReport {
	t := w.t
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
		ARN: t.ARN, Family: t.Family, Version: t.Version,
		DesiredStatus: t.DesiredStatus.backend(), KnownStatus: t.KnownStatus.backend(),
	}
	for _, c := range t.Containers {
		cs := ContainerSnapshot{
			Name: c.Name, DockerID: c.DockerID, DockerName: c.DockerName,
			Image: c.Image, ImageID: c.ImageID, KnownStatus: c.KnownStatus.backend(),
			CreatedAt: c.CreatedAt, StartedAt: c.StartedAt,
			Volumes:      slices.Clone(c.Mounts),
			RestartCount: c.RestartCount, Health: c.Health,
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
