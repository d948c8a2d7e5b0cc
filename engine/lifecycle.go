package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// refresh re-inspects the containers named by Docker ID, or all of them.
// Containers with an operation in flight are left to that operation.
func (w *worker) refresh(ctx context.Context, ids map[string]bool, all bool) {
	for _, c := range w.t.Containers {
		if c.DockerID == "" || w.inflight[c.Name] || c.KnownStatus == statusStopped || (!all && !ids[c.DockerID]) {
			continue
		}
		var info rt.Container
		var err error
		if all {
			info, err = w.e.relistInspect(ctx, c.DockerID)
		} else {
			info, err = w.e.inspectContainer(ctx, c.DockerID)
		}
		switch {
		case ctx.Err() != nil:
			return // shutting down
		case errors.Is(err, rt.ErrNotFound):
			w.vanished(c)
		case err != nil:
			w.log.Warn("inspect container", logging.KeyContainer, c.Name, logging.KeyError, err)
		default:
			w.observe(ctx, c, info, w.e.o.Now())
		}
	}
}

// reconcile brings a task loaded from agent.db up to date with Docker.
// It only looks at containers this agent created: by persisted ID, or by
// persisted name for a create that happened just before a crash.
func (w *worker) reconcile(ctx context.Context) {
	t, now := w.t, w.e.o.Now()
	if t.KnownStatus != statusStopped {
		if t.ResourcesAcquired {
			w.e.res.force(t.ARN, taskNeed(t))
		}
		for _, c := range t.Containers {
			for _, b := range c.KnownPortBindings {
				if b.HostPortRange != "" {
					lo, hi, err := parseRange(b.HostPortRange)
					if err == nil {
						w.e.ports.hold(t.ARN, b.Protocol, lo, hi-lo+1)
					}
				} else if b.HostPort != 0 {
					w.e.ports.hold(t.ARN, b.Protocol, b.HostPort, 1)
				}
			}
		}
	} else {
		w.released = true
	}
	for _, c := range t.Containers {
		if c.ImageInUse {
			w.e.o.Images.Use(c.Image, imageKey(t.ID, c.Name))
		}
		if c.KnownStatus == statusStopped {
			continue
		}
		switch {
		case c.DockerID != "":
			info, err := w.e.inspectContainer(ctx, c.DockerID)
			switch {
			case errors.Is(err, rt.ErrNotFound):
				w.vanished(c)
			case err != nil:
				w.log.Warn("inspect container at restart; the relist will retry", logging.KeyContainer, c.Name, logging.KeyError, err)
			default:
				w.observe(ctx, c, info, now)
			}
		case c.DockerName != "":
			info, err := w.e.inspectContainer(ctx, c.DockerName)
			if err == nil && info.Labels[LabelTaskARN] == t.ARN {
				w.log.Info("adopting container created before the restart", logging.KeyContainer, c.Name, logging.KeyDockerID, info.ID)
				w.observe(ctx, c, info, now)
			} else if err != nil && !errors.Is(err, rt.ErrNotFound) {
				w.log.Warn("inspect container by name at restart", logging.KeyContainer, c.Name, logging.KeyError, err)
			}
		}
	}
}

// cleanupDue removes a stopped, acknowledged task once the cleanup wait has
// passed. It returns true when the task is gone and the worker must end.
func (w *worker) cleanupDue(ctx context.Context) bool {
	t, now := w.t, w.e.o.Now()
	if t.KnownStatus != statusStopped || t.SentVersion < t.ReportVersion || len(w.inflight) > 0 {
		return false
	}
	if w.cleanupAt.IsZero() {
		wait := w.e.o.Config.TaskCleanupWaitDuration
		if j := w.e.o.Config.TaskCleanupWaitDurationJitter; j > 0 {
			wait += rand.N(j)
		}
		w.cleanupAt = now.Add(wait)
	}
	if now.Before(w.cleanupAt) {
		w.wakeAt(w.cleanupAt)
		return false
	}
	if err := w.cleanup(ctx); err != nil {
		w.log.Warn("task cleanup failed; will retry", logging.KeyError, err)
		w.cleanupAt = now.Add(time.Minute)
		w.wakeAt(w.cleanupAt)
		return false
	}
	w.log.Info("task cleaned up")
	return true
}

func (w *worker) cleanup(ctx context.Context) error {
	t, e := w.t, w.e
	for _, c := range t.Containers {
		if c.DockerID == "" && c.DockerName != "" {
			// A create whose outcome was never recorded: remove the
			// container only if it is this task's.
			if info, err := e.inspectContainer(ctx, c.DockerName); err == nil && info.Labels[LabelTaskARN] == t.ARN {
				c.DockerID = info.ID
			}
		}
		if c.DockerID != "" {
			rctx, cancel := context.WithTimeout(ctx, removeTimeout)
			err := e.o.Runtime.RemoveContainer(rctx, c.DockerID)
			cancel()
			if err != nil && !errors.Is(err, rt.ErrNotFound) {
				return fmt.Errorf("remove container %s: %w", c.Name, err)
			}
		}
	}
	if t.VolumesCreated {
		for _, v := range t.Volumes {
			if v.Kind == volumeLocal || (v.Kind == volumeDocker && !v.Shared) {
				if err := e.removeVolume(ctx, v.DockerName); err != nil && !errors.Is(err, rt.ErrNotFound) {
					return fmt.Errorf("remove volume %s: %w", v.DockerName, err)
				}
			}
		}
	}
	// The cgroup and metadata files go after the containers that used them.
	if err := w.removeCgroup(); err != nil {
		return err
	}
	if err := w.removeMetadataFiles(); err != nil {
		return err
	}
	for _, c := range t.Containers {
		if c.ImageInUse {
			e.o.Images.Release(imageKey(t.ID, c.Name))
			c.ImageInUse = false
		}
	}
	if err := w.deleteRecords(); err != nil {
		return fmt.Errorf("delete task records: %w", err)
	}
	e.unregister(w)
	return nil
}
