package telemetry

import "time"

// which selects the half of a container entry a publish writes.
type which int

const (
	metricsData which = iota
	healthData
)

// PutMetrics records a metrics publish of an instance. Every task must be
// on that instance (the caller checked it against the control plane's
// store); others are ignored. It returns how many containers were refused
// because the store is full (also counted in Dropped).
func (s *Store) PutMetrics(instanceARN string, b Batch, tasks []TaskMetrics) (dropped int) {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.instance(instanceARN)
	batch := inst.batch(metricsData, b.ID)
	for _, tm := range tasks {
		if tm.Task.Instance != instanceARN {
			continue
		}
		t := s.task(inst, tm.Task)
		for _, cm := range tm.Containers {
			batch.see(tm.Task.ARN, cm.Name)
			c := s.container(t, cm.Name)
			if c == nil {
				dropped++
				continue
			}
			m := cm
			c.metrics, c.metricsAt = &m, now
			if m.Network != nil {
				c.rxTotal += m.Network.RxBytes
				c.txTotal += m.Network.TxBytes
			}
		}
		s.dropIfEmpty(tm.Task.ARN)
	}
	if b.Last {
		s.endBatch(inst, metricsData, batch)
	}
	s.maybeSweep(now)
	s.dropped.Add(uint64(dropped))
	return dropped
}

// PutHealth records a health publish of an instance, as PutMetrics does
// for metrics.
func (s *Store) PutHealth(instanceARN string, b Batch, tasks []TaskHealth) (dropped int) {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.instance(instanceARN)
	batch := inst.batch(healthData, b.ID)
	for _, th := range tasks {
		if th.Task.Instance != instanceARN {
			continue
		}
		t := s.task(inst, th.Task)
		for _, ch := range th.Containers {
			batch.see(th.Task.ARN, ch.Name)
			c := s.container(t, ch.Name)
			if c == nil {
				dropped++
				continue
			}
			h := ch
			c.health, c.healthAt = &h, now
		}
		s.dropIfEmpty(th.Task.ARN)
	}
	if b.Last {
		s.endBatch(inst, healthData, batch)
	}
	s.maybeSweep(now)
	s.dropped.Add(uint64(dropped))
	return dropped
}

// PutInstanceStatus records the latest result of each check. A new check
// type beyond MaxStatusTypes is refused and counted in the result.
func (s *Store) PutInstanceStatus(instanceARN string, statuses []InstanceStatus) (dropped int) {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.instance(instanceARN)
	for _, st := range statuses {
		if _, known := inst.statuses[st.Type]; !known && len(inst.statuses) >= MaxStatusTypes {
			dropped++
			continue
		}
		inst.statuses[st.Type] = statusEntry{status: st, received: now}
	}
	s.maybeSweep(now)
	return dropped
}

// instance returns the instance's entry, creating it; s.mu must be held.
func (s *Store) instance(arn string) *instanceEntry {
	inst := s.instances[arn]
	if inst == nil {
		inst = &instanceEntry{statuses: map[string]statusEntry{}, tasks: map[string]struct{}{}}
		s.instances[arn] = inst
	}
	return inst
}

// batch returns the state of the batch id, starting it if it is new: a
// batch left unfinished (its last message lost) is simply replaced.
func (inst *instanceEntry) batch(w which, id string) *batchState {
	b := &inst.metricsBatch
	if w == healthData {
		b = &inst.healthBatch
	}
	if b.seen == nil || b.id != id {
		*b = batchState{id: id, seen: map[string]map[string]struct{}{}}
	}
	return b
}

func (b *batchState) see(taskARN, container string) {
	names := b.seen[taskARN]
	if names == nil {
		names = map[string]struct{}{}
		b.seen[taskARN] = names
	}
	names[container] = struct{}{}
}

// task returns the task's entry, creating it; s.mu must be held.
func (s *Store) task(inst *instanceEntry, info Task) *taskEntry {
	t := s.tasks[info.ARN]
	if t == nil {
		t = &taskEntry{containers: map[string]*containerEntry{}}
		s.tasks[info.ARN] = t
		inst.tasks[info.ARN] = struct{}{}
	}
	t.info = info
	return t
}

// container returns the container's entry, creating it within the bound;
// nil when the store is full.
func (s *Store) container(t *taskEntry, name string) *containerEntry {
	if c := t.containers[name]; c != nil {
		return c
	}
	if s.containers >= s.o.MaxContainers {
		return nil
	}
	c := &containerEntry{}
	t.containers[name] = c
	s.containers++
	return c
}

// endBatch clears the data of one kind of the instance's containers that
// the finished batch did not name: the agent no longer runs them, or has no
// such data for them now.
func (s *Store) endBatch(inst *instanceEntry, w which, b *batchState) {
	for arn := range inst.tasks {
		t := s.tasks[arn]
		for name, c := range t.containers {
			if _, ok := b.seen[arn][name]; ok {
				continue
			}
			if w == metricsData {
				c.metrics, c.metricsAt = nil, time.Time{}
			} else {
				c.health, c.healthAt = nil, time.Time{}
			}
			if c.metrics == nil && c.health == nil {
				delete(t.containers, name)
				s.containers--
			}
		}
		s.dropIfEmpty(arn)
	}
	*b = batchState{}
}

// dropIfEmpty removes a task entry without containers.
func (s *Store) dropIfEmpty(arn string) {
	if t := s.tasks[arn]; t != nil && len(t.containers) == 0 {
		s.removeTask(arn)
	}
}

// maybeSweep removes what has not been updated for ForgetAfter, at most
// once per quarter of it; s.mu must be held.
func (s *Store) maybeSweep(now time.Time) {
	if now.Sub(s.lastSweep) < s.o.ForgetAfter/4 {
		return
	}
	s.lastSweep = now
	old := func(at time.Time) bool { return at.IsZero() || now.Sub(at) > s.o.ForgetAfter }
	for arn, t := range s.tasks {
		for name, c := range t.containers {
			if old(c.metricsAt) && old(c.healthAt) {
				delete(t.containers, name)
				s.containers--
			}
		}
		s.dropIfEmpty(arn)
	}
	for arn, inst := range s.instances {
		for typ, e := range inst.statuses {
			if old(e.received) {
				delete(inst.statuses, typ)
			}
		}
		if len(inst.statuses) == 0 && len(inst.tasks) == 0 {
			delete(s.instances, arn)
		}
	}
}
