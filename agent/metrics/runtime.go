package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// instrumentedRuntime times every call of a runtime.Runtime.
type instrumentedRuntime struct {
	rt runtime.Runtime
	m  *Metrics
}

var _ runtime.Runtime = instrumentedRuntime{}

// Runtime wraps rt so that every call is counted in docker_call_seconds and,
// when it fails, docker_call_errors_total. A missing container or image
// (ErrNotFound) is an answer, not a failure of Docker, and is not counted as
// an error. On a nil Metrics (metrics off) it returns rt itself.
func (m *Metrics) Runtime(rt runtime.Runtime) runtime.Runtime {
	if m == nil {
		return rt
	}
	for _, call := range []string{"PullImage", "InspectImage", "RemoveImage", "CreateContainer", "StartContainer",
		"StopContainer", "InspectContainer", "RemoveContainer", "ListContainers", "CreateVolume",
		"InspectVolume", "RemoveVolume"} {
		m.dockerLatency.WithLabelValues(call) // every call shows, at 0, from the first scrape
		m.dockerErrors.WithLabelValues(call)
	}
	return instrumentedRuntime{rt: rt, m: m}
}

// observe records one call that started at start. A cancelled call is the
// caller's doing, not Docker's, and is not an error either.
func (r instrumentedRuntime) observe(call string, start time.Time, err error) {
	r.m.dockerLatency.WithLabelValues(call).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, runtime.ErrNotFound) && !errors.Is(err, context.Canceled) {
		r.m.dockerErrors.WithLabelValues(call).Inc()
	}
}

func (r instrumentedRuntime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (err error) {
	defer func(start time.Time) { r.observe("PullImage", start, err) }(time.Now())
	return r.rt.PullImage(ctx, ref, opts)
}

func (r instrumentedRuntime) InspectImage(ctx context.Context, ref string) (img runtime.Image, err error) {
	defer func(start time.Time) { r.observe("InspectImage", start, err) }(time.Now())
	return r.rt.InspectImage(ctx, ref)
}

func (r instrumentedRuntime) RemoveImage(ctx context.Context, ref string) (err error) {
	defer func(start time.Time) { r.observe("RemoveImage", start, err) }(time.Now())
	return r.rt.RemoveImage(ctx, ref)
}

func (r instrumentedRuntime) CreateContainer(ctx context.Context, spec runtime.CreateSpec) (id string, err error) {
	defer func(start time.Time) { r.observe("CreateContainer", start, err) }(time.Now())
	return r.rt.CreateContainer(ctx, spec)
}

func (r instrumentedRuntime) StartContainer(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { r.observe("StartContainer", start, err) }(time.Now())
	return r.rt.StartContainer(ctx, id)
}

func (r instrumentedRuntime) StopContainer(ctx context.Context, id string, timeout time.Duration) (err error) {
	defer func(start time.Time) { r.observe("StopContainer", start, err) }(time.Now())
	return r.rt.StopContainer(ctx, id, timeout)
}

func (r instrumentedRuntime) InspectContainer(ctx context.Context, idOrName string) (c runtime.Container, err error) {
	defer func(start time.Time) { r.observe("InspectContainer", start, err) }(time.Now())
	return r.rt.InspectContainer(ctx, idOrName)
}

func (r instrumentedRuntime) RemoveContainer(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { r.observe("RemoveContainer", start, err) }(time.Now())
	return r.rt.RemoveContainer(ctx, id)
}

func (r instrumentedRuntime) ListContainers(ctx context.Context, labels map[string]string) (cs []runtime.ContainerSummary, err error) {
	defer func(start time.Time) { r.observe("ListContainers", start, err) }(time.Now())
	return r.rt.ListContainers(ctx, labels)
}

// Events is a stream, not a call: it is passed through untimed.
func (r instrumentedRuntime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	return r.rt.Events(ctx)
}

func (r instrumentedRuntime) CreateVolume(ctx context.Context, spec runtime.VolumeSpec) (v runtime.Volume, err error) {
	defer func(start time.Time) { r.observe("CreateVolume", start, err) }(time.Now())
	return r.rt.CreateVolume(ctx, spec)
}

func (r instrumentedRuntime) InspectVolume(ctx context.Context, name string) (v runtime.Volume, err error) {
	defer func(start time.Time) { r.observe("InspectVolume", start, err) }(time.Now())
	return r.rt.InspectVolume(ctx, name)
}

func (r instrumentedRuntime) RemoveVolume(ctx context.Context, name string) (err error) {
	defer func(start time.Time) { r.observe("RemoveVolume", start, err) }(time.Now())
	return r.rt.RemoveVolume(ctx, name)
}
