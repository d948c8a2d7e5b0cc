package engine

import (
	"fmt"

	"github.com/open-ecs/ecs-agent/engine/cgroup"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// needsCgroup: the task has task-level cpu or memory, which only a task
// cgroup can enforce.
func needsCgroup(t *task) bool { return t.CPU > 0 || t.MemoryMiB > 0 }

// cgroupCreator returns the call that creates the task's cgroup, or nil for
// a task without task-level limits. The returned function runs in an
// operation goroutine; it captures only what it needs.
func (w *worker) cgroupCreator() func() (string, error) {
	t, cg := w.t, w.e.o.Cgroups
	if !needsCgroup(t) || cg == nil {
		// AddTask refused a task that needs a cgroup when there are none;
		// a task loaded from agent.db after cgroups were turned off runs
		// as it was started.
		return nil
	}
	id, limits := t.ID, cgroup.Limits{CPUShares: t.CPU, MemoryMiB: t.MemoryMiB}
	return func() (string, error) {
		parent, err := cg.Create(id, limits)
		if err != nil {
			return "", fmt.Errorf("task cgroup: %w", err)
		}
		return parent, nil
	}
}

// removeCgroup removes the task's cgroup at cleanup. It is removed even if
// the task never recorded it: a crash between its creation and the next
// save would otherwise leak it. Removing a missing cgroup is not an error.
func (w *worker) removeCgroup() error {
	t, cg := w.t, w.e.o.Cgroups
	if t.CgroupParent == "" && !needsCgroup(t) {
		return nil
	}
	if cg == nil {
		w.log.Warn("task cgroups are off now; leaving the task's cgroup in place", logging.KeyPath, t.CgroupParent)
		return nil
	}
	if err := cg.Remove(t.ID); err != nil {
		return fmt.Errorf("remove the task's cgroup: %w", err)
	}
	t.CgroupParent = ""
	return nil
}
