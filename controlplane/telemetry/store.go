package telemetry

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for zero Options.
const (
	// DefaultStaleAfter is 4.5 publish intervals of the agents (20 s): a
	// publish or two may be late or lost before data counts as stale.
	DefaultStaleAfter = 90 * time.Second
	// DefaultForgetAfter is how long stale data is kept before a write
	// removes it.
	DefaultForgetAfter = 10 * time.Minute
	// DefaultMaxContainers bounds the container entries: 500 instances
	// with 100 one-container tasks each.
	DefaultMaxContainers = 50_000
	// MaxStatusTypes bounds the instance checks kept per instance (agents
	// send two to four).
	MaxStatusTypes = 16
)

// Options configure a Store.
type Options struct {
	StaleAfter    time.Duration
	ForgetAfter   time.Duration
	MaxContainers int
	Now           func() time.Time // nil means time.Now
}

// Store is the in-memory telemetry. It is safe for concurrent use.
type Store struct {
	o       Options
	dropped atomic.Uint64

	mu         sync.RWMutex
	instances  map[string]*instanceEntry // by container instance ARN
	tasks      map[string]*taskEntry     // by task ARN
	containers int                       // entries over all tasks
	lastSweep  time.Time
}

type instanceEntry struct {
	statuses     map[string]statusEntry // by check type
	tasks        map[string]struct{}    // ARNs of its tasks with entries
	metricsBatch batchState
	healthBatch  batchState
}

type statusEntry struct {
	status   InstanceStatus
	received time.Time
}

// batchState collects the containers a publish batch named, by task ARN.
type batchState struct {
	id   string
	seen map[string]map[string]struct{}
}

type taskEntry struct {
	info       Task
	containers map[string]*containerEntry
	// stopped: the control plane recorded the task STOPPED (TaskStopped).
	stopped bool
}

type containerEntry struct {
	metrics          *ContainerMetrics
	metricsAt        time.Time
	rxTotal, txTotal uint64
	health           *ContainerHealth
	healthAt         time.Time
}

// New returns an empty Store.
func New(o Options) *Store {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.ForgetAfter <= 0 {
		o.ForgetAfter = DefaultForgetAfter
	}
	o.ForgetAfter = max(o.ForgetAfter, o.StaleAfter)
	if o.MaxContainers <= 0 {
		o.MaxContainers = DefaultMaxContainers
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{
		o:         o,
		instances: map[string]*instanceEntry{},
		tasks:     map[string]*taskEntry{},
	}
}

// Dropped counts container entries refused because the store was full.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// Len reports the number of task and container entries held.
func (s *Store) Len() (tasks, containers int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tasks), s.containers
}

func (s *Store) fresh(at, now time.Time) bool {
	return !at.IsZero() && now.Sub(at) <= s.o.StaleAfter
}

// ContainerHealth returns the container's latest health if it is fresh.
func (s *Store) ContainerHealth(taskARN, container string) (ContainerHealth, bool) {
	now := s.o.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tasks[taskARN]
	if t == nil {
		return ContainerHealth{}, false
	}
	c := t.containers[container]
	if c == nil || c.health == nil || !s.fresh(c.healthAt, now) {
		return ContainerHealth{}, false
	}
	return *c.health, true
}

// InstanceStatuses returns the instance's checks sorted by type, each stale
// one as INSUFFICIENT_DATA (its LastStatusChange is then the moment it
// turned stale). ok is false when the store has nothing for the instance.
func (s *Store) InstanceStatuses(instanceARN string) (statuses []InstanceStatus, ok bool) {
	now := s.o.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	inst := s.instances[instanceARN]
	if inst == nil || len(inst.statuses) == 0 {
		return nil, false
	}
	for _, e := range inst.statuses {
		st := e.status
		if !s.fresh(e.received, now) {
			st.Status = StatusInsufficientData
			st.Reason = "no status received from the agent for " + s.o.StaleAfter.String()
			st.LastStatusChange = e.received.Add(s.o.StaleAfter)
		}
		statuses = append(statuses, st)
	}
	slices.SortFunc(statuses, func(a, b InstanceStatus) int { return strings.Compare(a.Type, b.Type) })
	return statuses, true
}

// Containers returns every container of a task not stopped (TaskStopped)
// with fresh metrics or health, sorted by task ARN and name.
func (s *Store) Containers() []Container {
	now := s.o.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Container, 0, s.containers)
	for _, t := range s.tasks {
		if t.stopped {
			continue
		}
		for name, c := range t.containers {
			snap := Container{Task: t.info, Name: name}
			if c.metrics != nil && s.fresh(c.metricsAt, now) {
				m := *c.metrics
				snap.Metrics = &m
				snap.RxBytesTotal, snap.TxBytesTotal = c.rxTotal, c.txTotal
			}
			if c.health != nil && s.fresh(c.healthAt, now) {
				h := *c.health
				snap.Health = &h
			}
			if snap.Metrics != nil || snap.Health != nil {
				out = append(out, snap)
			}
		}
	}
	slices.SortFunc(out, func(a, b Container) int {
		if c := strings.Compare(a.Task.ARN, b.Task.ARN); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// TaskStopped tells that the task was recorded STOPPED. Its containers
// leave Containers at once (the series /metrics exports end with the
// task), while ContainerHealth still answers with their last health until
// it turns stale, as DescribeTasks shows a stopped task. An agent sends no
// more health once none of its tasks has a health check, so without this
// the series of the last such task would stay until stale (90 s).
func (s *Store) TaskStopped(taskARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tasks[taskARN]; t != nil {
		t.stopped = true
	}
}

// ForgetInstance drops everything about an instance, e.g. once it is
// deregistered.
func (s *Store) ForgetInstance(instanceARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.instances[instanceARN]
	if inst == nil {
		return
	}
	for arn := range inst.tasks {
		s.removeTask(arn)
	}
	delete(s.instances, instanceARN)
}

// removeTask drops a task's entry; s.mu must be held.
func (s *Store) removeTask(arn string) {
	t := s.tasks[arn]
	if t == nil {
		return
	}
	s.containers -= len(t.containers)
	delete(s.tasks, arn)
	if inst := s.instances[t.info.Instance]; inst != nil {
		delete(inst.tasks, arn)
	}
}
