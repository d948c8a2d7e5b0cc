package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Deadlines of the volume calls. A volume driver may provision or release
// real storage, so create and remove get minutes; an inspect only reads.
const (
	volumeCreateTimeout  = 5 * time.Minute
	volumeInspectTimeout = 30 * time.Second
	volumeRemoveTimeout  = 5 * time.Minute
)

// Operations run in their own goroutines and report back to the worker.
type opKind int

const (
	opPull opKind = iota + 1
	opVolumes
	opCreate
	opStart
	opRestart
	opStop
)

// result is what one operation reports to its worker.
type result struct {
	key      string // container name or volumesKey
	op       opKind
	err      error
	image    rt.Image
	dockerID string
	info     *rt.Container
	started  time.Time
	stopped  time.Time
	cgroup   string // the task's CgroupParent, from opVolumes
}

// launch runs op in a tracked goroutine, marking key in flight.
func (w *worker) launch(ctx context.Context, key string, op opKind, fn func(ctx context.Context) result) {
	w.inflight[key] = true
	w.e.wg.Go(func() {
		r := fn(ctx)
		r.key, r.op = key, op
		w.results <- r // never blocks: one slot per container plus volumes
	})
}

// limited runs fn holding one of the ECS_MAX_CONCURRENT_STARTS slots.
func (e *Engine) limited(ctx context.Context, fn func() error) error { return bounded(ctx, e.sem, fn) }

// bounded runs fn once it holds one of sem's slots, or returns ctx's error.
func bounded(ctx context.Context, sem chan struct{}, fn func() error) error {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-sem }()
	return fn()
}

func (e *Engine) inspectContainer(ctx context.Context, id string) (rt.Container, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	return e.o.Runtime.InspectContainer(ctx, id)
}

func (w *worker) launchPull(ctx context.Context, c *container) {
	e, image, key := w.e, c.Image, imageKey(w.t.ID, c.Name)
	w.launch(ctx, c.Name, opPull, func(ctx context.Context) result {
		var r result
		r.err = e.limited(ctx, func() error {
			r.started = e.o.Now()
			pctx, cancel := context.WithTimeout(ctx, timeoutOr(e.o.Config.ImagePullTimeout, 2*time.Hour))
			defer cancel()
			var err error
			r.image, err = e.o.Images.Pull(pctx, image, key)
			r.stopped = e.o.Now()
			return err
		})
		return r
	})
}

// launchVolumes creates the task's cgroup (if it has task-level limits)
// and its volumes once, before any container.
func (w *worker) launchVolumes(ctx context.Context) {
	e, vols, arn := w.e, slices.Clone(w.t.Volumes), w.t.ARN
	makeCgroup := w.cgroupCreator()
	w.launch(ctx, volumesKey, opVolumes, func(ctx context.Context) result {
		var r result
		if makeCgroup != nil {
			if r.cgroup, r.err = makeCgroup(); r.err != nil {
				return r
			}
		}
		for _, v := range vols {
			if err := e.provisionVolume(ctx, arn, v); err != nil {
				return result{err: err}
			}
		}
		return r
	})
}

func (e *Engine) provisionVolume(ctx context.Context, arn string, v *volume) error {
	switch {
	case v.Kind == volumeHost:
		return nil
	case v.Kind == volumeDocker && v.Shared && !v.Autoprovision:
		ictx, cancel := context.WithTimeout(ctx, volumeInspectTimeout)
		_, err := e.o.Runtime.InspectVolume(ictx, v.DockerName)
		cancel()
		if err != nil {
			if errors.Is(err, rt.ErrNotFound) {
				return fmt.Errorf("shared volume %q does not exist and autoprovision is off; create it or set autoprovision", v.DockerName)
			}
			return fmt.Errorf("inspect shared volume %q: %w", v.DockerName, err)
		}
		return nil
	}
	labels := map[string]string{}
	for k, val := range v.Labels {
		labels[k] = val
	}
	if !v.Shared {
		labels[LabelTaskARN] = arn
	}
	spec := rt.VolumeSpec{Name: v.DockerName, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels}
	cctx, cancel := context.WithTimeout(ctx, volumeCreateTimeout)
	defer cancel()
	if _, err := e.o.Runtime.CreateVolume(cctx, spec); err != nil {
		return fmt.Errorf("create volume %q: %w", v.DockerName, err)
	}
	return nil
}

// removeVolume removes a task's volume at cleanup. It runs on the worker
// goroutine, so it must not wait forever on a driver that never answers.
func (e *Engine) removeVolume(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, volumeRemoveTimeout)
	defer cancel()
	return e.o.Runtime.RemoveVolume(ctx, name)
}

// launchCreate names the container, chooses its host ports, persists both,
// and only then creates it, so that a crash in between can be recovered by
// name. It returns true if it changed c synchronously (a failure).
func (w *worker) launchCreate(ctx context.Context, c *container, now time.Time) bool {
	t, e := w.t, w.e
	if c.DockerName == "" {
		bindings, err := w.choosePorts(c)
		if err != nil {
			w.failContainer(c, reasonf(kindCreate, "%v", err))
			return true
		}
		c.DockerName = dockerName(t, c.Name)
		c.Labels = ecsLabels(t, c, e.o.Config)
		c.KnownPortBindings = bindings
	}
	if err := w.save(); err != nil {
		w.log.Error("persist container name before create", logging.KeyContainer, c.Name, logging.KeyError, err)
		w.wakeAt(now.Add(retryDelay))
		return false
	}
	in := specInput{task: t, cfg: e.o.Config, ports: c.KnownPortBindings}
	if in.metadataBind, in.metadataFile = e.metadataMount(t, c); in.metadataBind != "" {
		if err := w.writeMetadataFile(c, false); err != nil {
			w.failContainer(c, reasonf(kindCreate, "%v", err))
			return true
		}
	}
	spec, err := buildSpec(c, in)
	if err != nil {
		w.failContainer(c, reasonf(kindCreate, "%v", err))
		return true
	}
	w.launch(ctx, c.Name, opCreate, func(ctx context.Context) result {
		var r result
		r.err = e.limited(ctx, func() error {
			cctx, cancel := context.WithTimeout(ctx, timeoutOr(e.o.Config.ContainerCreateTimeout, 4*time.Minute))
			defer cancel()
			id, err := e.o.Runtime.CreateContainer(cctx, spec)
			if err != nil && ctx.Err() == nil {
				// The name is ours and unique: if a container has it, the
				// create reached Docker (an earlier attempt, or this one
				// before a timeout). Adopt it rather than leak it or make
				// a duplicate.
				info, ierr := e.inspectContainer(ctx, spec.Name)
				if ierr == nil && info.Labels[LabelTaskARN] == t.ARN {
					id, err = info.ID, nil
				}
			}
			if err != nil {
				return err
			}
			r.dockerID = id
			if info, err := e.inspectContainer(ctx, id); err == nil {
				r.info = &info
			}
			return nil
		})
		return r
	})
	return false
}

// choosePorts picks host ports for c's mappings: static ones as given,
// dynamic ones (hostPort 0) from the dynamic range.
func (w *worker) choosePorts(c *container) ([]NetworkBinding, error) {
	var out []NetworkBinding
	if w.t.NetworkMode == networkNone {
		return nil, nil
	}
	for _, pm := range c.PortMappings {
		b := NetworkBinding{BindIP: "0.0.0.0", Protocol: pm.Protocol}
		if pm.ContainerPortRange != "" {
			lo, hi, _ := parseRange(pm.ContainerPortRange)
			start := lo
			if w.t.NetworkMode == networkBridge {
				var err error
				if start, err = w.e.ports.allocate(w.t.ARN, pm.Protocol, hi-lo+1); err != nil {
					return nil, err
				}
			}
			b.ContainerPortRange = pm.ContainerPortRange
			b.HostPortRange = fmt.Sprintf("%d-%d", start, start+hi-lo)
			out = append(out, b)
			continue
		}
		b.ContainerPort, b.HostPort = pm.ContainerPort, pm.HostPort
		switch {
		case w.t.NetworkMode == networkHost:
			b.HostPort = pm.ContainerPort
		case pm.HostPort == 0:
			p, err := w.e.ports.allocate(w.t.ARN, pm.Protocol, 1)
			if err != nil {
				return nil, err
			}
			b.HostPort = p
		}
		out = append(out, b)
	}
	return out, nil
}

func (w *worker) launchStart(ctx context.Context, c *container) {
	w.launchStartOp(ctx, c, opStart)
}

func (w *worker) launchStartOp(ctx context.Context, c *container, op opKind) {
	e, id := w.e, c.DockerID
	w.launch(ctx, c.Name, op, func(ctx context.Context) result {
		var r result
		r.err = e.limited(ctx, func() error {
			sctx, cancel := context.WithTimeout(ctx, timeoutOr(e.o.Config.ContainerStartTimeout, 3*time.Minute))
			defer cancel()
			if err := e.o.Runtime.StartContainer(sctx, id); err != nil {
				return err
			}
			r.started = e.o.Now()
			if info, err := e.inspectContainer(ctx, id); err == nil {
				r.info = &info
			}
			return nil
		})
		return r
	})
}

func (w *worker) launchStop(ctx context.Context, c *container) {
	e, id, timeout := w.e, c.DockerID, stopTimeout(c, w.e.o.Config)
	w.launch(ctx, c.Name, opStop, func(ctx context.Context) result {
		sctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
		defer cancel()
		if err := e.o.Runtime.StopContainer(sctx, id, timeout); err != nil {
			return result{err: err}
		}
		info, err := e.inspectContainer(ctx, id)
		if err != nil {
			return result{err: err}
		}
		return result{info: &info}
	})
}

// apply folds an operation's result into the model.
func (w *worker) apply(ctx context.Context, r result) {
	t, now := w.t, w.e.o.Now()
	if r.key == volumesKey {
		if r.err != nil {
			w.stopTask(reasonf(kindResources, "%v", r.err))
			return
		}
		t.VolumesCreated = true
		t.CgroupParent = r.cgroup
		return
	}
	c := t.container(r.key)
	switch r.op {
	case opPull:
		if !r.started.IsZero() && t.PullStartedAt == nil {
			at := r.started.UTC()
			t.PullStartedAt = &at
		}
		if !r.stopped.IsZero() {
			at := r.stopped.UTC()
			t.PullStoppedAt = &at
		}
		if r.err != nil {
			// Images.Pull's errors name the image already.
			w.failContainer(c, reasonf(kindPull, "%v", r.err))
			return
		}
		c.ImageID = r.image.ID
		c.ImageDigest = digestOf(r.image)
		c.ImageInUse = true // Pull recorded the use; cleanup releases it
		c.KnownStatus = max(c.KnownStatus, statusPulled)
	case opCreate:
		if r.err != nil {
			w.failContainer(c, reasonf(kindCreate, "%v", r.err))
			return
		}
		c.DockerID = r.dockerID
		w.e.bindDocker(r.dockerID, w)
		c.KnownStatus = max(c.KnownStatus, statusCreated)
		if r.info != nil {
			w.observe(ctx, c, *r.info, now)
		}
	case opStart, opRestart:
		if r.err != nil {
			w.failContainer(c, reasonf(kindStart, "%v", r.err))
			return
		}
		c.LastRestartAt = r.started
		if r.op == opStart {
			c.StartedAt = r.started
		}
		c.KnownStatus = max(c.KnownStatus, statusRunning)
		if r.info != nil {
			w.observe(ctx, c, *r.info, now)
		}
	case opStop:
		switch {
		case errors.Is(r.err, rt.ErrNotFound):
			w.vanished(c)
		case r.err != nil:
			w.log.Warn("stop container failed; will retry", logging.KeyContainer, c.Name, logging.KeyError, r.err)
			w.stopRetryAt[c.Name] = now.Add(retryDelay)
		case r.info.State == rt.StateCreated:
			c.KnownStatus = statusStopped // never started: nothing to stop
		default:
			w.observe(ctx, c, *r.info, now)
			if c.KnownStatus != statusStopped {
				w.stopRetryAt[c.Name] = now.Add(retryDelay)
			}
		}
	}
}

func digestOf(im rt.Image) string {
	for _, d := range im.RepoDigests {
		if _, digest, ok := strings.Cut(d, "@"); ok {
			return digest
		}
	}
	return ""
}

// observe folds an inspected container into c: metadata always, status
// only forward.
func (w *worker) observe(ctx context.Context, c *container, info rt.Container, now time.Time) {
	if c.DockerID == "" {
		c.DockerID = info.ID
		w.e.bindDocker(info.ID, w)
	}
	if info.ImageID != "" {
		c.ImageID = info.ImageID
	}
	if !info.CreatedAt.IsZero() {
		c.CreatedAt = info.CreatedAt.UTC()
	}
	if !info.StartedAt.IsZero() && c.StartedAt.IsZero() {
		c.StartedAt = info.StartedAt.UTC()
	}
	if !info.FinishedAt.IsZero() {
		c.FinishedAt = info.FinishedAt.UTC()
	}
	c.Health = healthName(info.Health)
	c.Networks = info.Networks
	c.Mounts = c.Mounts[:0]
	for _, m := range info.Mounts {
		c.Mounts = append(c.Mounts, VolumeSnapshot{DockerName: m.Name, Source: m.Source, Destination: m.Destination})
	}
	if c.KnownStatus == statusStopped {
		return
	}
	switch info.State {
	case rt.StateCreated:
		c.KnownStatus = max(c.KnownStatus, statusCreated)
	case rt.StateRunning, rt.StateRestarting, rt.StatePaused:
		c.KnownStatus = max(c.KnownStatus, statusRunning)
	case rt.StateExited, rt.StateDead, rt.StateRemoving:
		w.exited(ctx, c, info, now)
	}
}

func healthName(h string) string {
	switch h {
	case rt.HealthHealthy:
		return healthHealthy
	case rt.HealthUnhealthy:
		return healthUnhealthy
	case rt.HealthStarting:
		return healthUnknown
	}
	return ""
}

// exited handles a container Docker reports as exited: restart it in place
// if its restart policy says so, otherwise it is STOPPED.
func (w *worker) exited(ctx context.Context, c *container, info rt.Container, now time.Time) {
	code := info.ExitCode
	if w.shouldRestart(c, code, now) {
		c.RestartCount++
		c.LastRestartAt = now
		c.KnownStatus = max(c.KnownStatus, statusRunning)
		w.log.Info("restarting container", logging.KeyContainer, c.Name, logging.KeyExitCode, code, logging.KeyCount, c.RestartCount)
		w.launchStartOp(ctx, c, opRestart)
		return
	}
	c.KnownStatus = statusStopped
	c.KnownExitCode = &code
	switch {
	case c.Reason != "":
	case info.OOMKilled:
		c.Reason = "OutOfMemoryError: Container killed due to memory usage"
	case info.Error != "":
		c.Reason = reasonf(kindStart, "%s", info.Error)
	}
	w.log.Info("container stopped", logging.KeyContainer, c.Name, logging.KeyExitCode, code)
}

func (w *worker) shouldRestart(c *container, code int, now time.Time) bool {
	p := c.RestartPolicy
	if p == nil || !p.Enabled || c.DesiredStatus == statusStopped || w.t.DesiredStatus == statusStopped {
		return false
	}
	if slices.Contains(p.IgnoredExitCodes, code) {
		return false
	}
	period := defaultRestartAttemptPeriod
	if p.RestartAttemptPeriod > 0 {
		period = time.Duration(p.RestartAttemptPeriod) * time.Second
	}
	last := c.StartedAt
	if c.LastRestartAt.After(last) {
		last = c.LastRestartAt
	}
	return !last.IsZero() && now.Sub(last) >= period
}

func (w *worker) vanished(c *container) {
	if c.KnownStatus == statusStopped {
		return
	}
	c.KnownStatus = statusStopped
	if c.Reason == "" {
		c.Reason = reasonf(kindVanished, "container %s (%s) no longer exists in Docker", c.DockerName, c.DockerID)
	}
	w.log.Warn("container vanished", logging.KeyContainer, c.Name, logging.KeyDockerID, c.DockerID)
}
