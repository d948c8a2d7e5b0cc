package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

const (
	testImage   = enginetest.TestImage
	testCluster = "test-cluster"
)

// runCmd is what a container that runs until stopped executes on real
// Docker; on the fake, the image's Program decides (h.program).
var runCmd = enginetest.BusyboxCommand(enginetest.Program{})

// exits is the Program of a process that exits with code right after it
// starts.
func exits(code int) enginetest.Program { return enginetest.Program{Exits: true, ExitCode: code} }

// ignoresTerm is the Program of a process that ignores SIGTERM.
var ignoresTerm = enginetest.Program{IgnoreTerm: true}

// testImages is an Images that pulls through the fake runtime and records
// uses, so tests can check that cleanup releases them.
type testImages struct {
	rt rt.Runtime
	mu sync.Mutex
	in map[string]string // containerKey → image
}

func (i *testImages) Pull(ctx context.Context, image, key string) (rt.Image, error) {
	img, err := i.rt.InspectImage(ctx, image)
	if err != nil {
		if err := i.rt.PullImage(ctx, image, rt.PullOptions{}); err != nil {
			return rt.Image{}, err
		}
		if img, err = i.rt.InspectImage(ctx, image); err != nil {
			return rt.Image{}, err
		}
	}
	i.Use(image, key)
	return img, nil
}

func (i *testImages) Use(image, key string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.in[key] = image
}

func (i *testImages) Release(key string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.in, key)
}

func (i *testImages) users() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.in)
}

// recorder wraps the fake to record create specs and optionally hook calls.
type recorder struct {
	*enginetest.Fake
	mu       sync.Mutex
	specs    map[string]rt.CreateSpec // by container-name label
	onCreate func(ctx context.Context, spec rt.CreateSpec) (id string, handled bool, err error)
}

func (r *recorder) CreateContainer(ctx context.Context, spec rt.CreateSpec) (string, error) {
	var cfg struct{ Labels map[string]string }
	_ = json.Unmarshal(spec.Config, &cfg)
	r.mu.Lock()
	r.specs[cfg.Labels[LabelContainerName]] = spec
	hook := r.onCreate
	r.mu.Unlock()
	if hook != nil {
		if id, handled, err := hook(ctx, spec); handled {
			return id, err
		}
	}
	return r.Fake.CreateContainer(ctx, spec)
}

func (r *recorder) spec(name string) rt.CreateSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.specs[name]
}

// harness runs an Engine on the fake runtime and an in-memory store.
type harness struct {
	t        *testing.T
	programs int // images registered by program
	rt       *recorder
	images   *testImages
	store    statemanager.Store
	cfg      *config.Config
	res      HostResources
	cg       *fakeCgroups
	metadata *MetadataFiles
	e        *Engine
	cancel   context.CancelFunc
	done     chan error
}

func newHarness(t *testing.T) *harness {
	f := enginetest.NewFake()
	f.SetImage(testImage)
	cfg := config.Default()
	cfg.Cluster = testCluster
	cfg.AWSRegion = "us-west-2"
	cfg.DynamicHostPortRange = "40000-40100"
	cfg.TaskCleanupWaitDuration = time.Hour
	cfg.DockerStopTimeout = 30 * time.Second
	r := &recorder{Fake: f, specs: map[string]rt.CreateSpec{}}
	return &harness{
		t: t, rt: r, images: &testImages{rt: r, in: map[string]string{}},
		store: statemanager.NewMemory(), cfg: cfg, cg: &fakeCgroups{},
	}
}

// start builds and runs a new Engine over the harness's store and runtime.
func (h *harness) start() {
	h.t.Helper()
	o := Options{
		Runtime: h.rt, Images: h.images, Store: h.store, Config: h.cfg, HostResources: h.res,
		PortFree: func(string, uint16) bool { return true }, MetadataFiles: h.metadata,
		NoCgroups: "no task cgroups in this test",
	}
	if h.cg != nil {
		o.Cgroups = h.cg
	}
	e, err := New(o)
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.e, h.cancel, h.done = e, cancel, make(chan error, 1)
	go func() { h.done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-h.done:
		h.t.Fatalf("engine ended before it was ready: %v", err)
	}
	h.t.Cleanup(h.stop)
}

// stop ends the engine (an agent shutdown) and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	require.NoError(h.t, <-h.done)
}

// restart simulates an agent restart over the same store and Docker.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// program returns a new local image whose containers run p on the fake:
// the fake never reads a container's command.
func (h *harness) program(p enginetest.Program) string {
	h.programs++
	ref := fmt.Sprintf("enginetest/program-%d:latest", h.programs)
	h.rt.SetImage(ref)
	h.rt.SetProgram(ref, p)
	return ref
}

func (h *harness) add(task *wire.Task) {
	h.t.Helper()
	require.NoError(h.t, h.e.AddTask(context.Background(), task))
}

func (h *harness) snap(arn string) TaskSnapshot {
	h.t.Helper()
	for _, s := range h.e.Snapshot() {
		if s.ARN == arn {
			return s
		}
	}
	h.t.Fatalf("no snapshot for %s", arn)
	return TaskSnapshot{}
}

func (s TaskSnapshot) container(name string) ContainerSnapshot {
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	return ContainerSnapshot{}
}

// report returns the newest unacknowledged report of arn, if any.
func (h *harness) report(arn string) (TaskReport, bool) {
	for _, r := range h.e.Reports() {
		if r.TaskARN == arn {
			return r, true
		}
	}
	return TaskReport{}, false
}

func (h *harness) mustReport(arn string) TaskReport {
	h.t.Helper()
	r, ok := h.report(arn)
	require.True(h.t, ok, "no unacknowledged report for %s", arn)
	return r
}

func (r TaskReport) container(name string) ContainerReport {
	for _, c := range r.Containers {
		if c.Name == name {
			return c
		}
	}
	return ContainerReport{}
}

func arn(id string) string {
	return "arn:aws:ecs:us-west-2:123456789012:task/" + testCluster + "/" + id
}

// newTask is a task of containers named names whose processes run until
// stopped (the fake's default Program for testImage); the first is
// essential.
func newTask(id string, names ...string) *wire.Task {
	t := &wire.Task{ARN: arn(id), Family: "fam", Version: "3", DesiredStatus: StatusRunning}
	for i, n := range names {
		t.Containers = append(t.Containers, wire.Container{Name: n, Image: testImage, Essential: i == 0, Memory: 64})
	}
	return t
}

func stopOf(t *wire.Task) *wire.Task {
	c := *t
	c.DesiredStatus = StatusStopped
	return &c
}

func wireScratchVolume(name string) wire.Volume {
	return wire.Volume{Name: name, Type: wire.VolumeTypeDocker, DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{Scope: wire.ScopeTask, Driver: "local"}}
}

func wireMount(volume, path string) wire.MountPoint {
	return wire.MountPoint{SourceVolume: volume, ContainerPath: path}
}

// spec0Volume is the docker volume name in the first bind of "main".
func (h *harness) spec0Volume(t *testing.T) string {
	var host struct{ Binds []string }
	require.NoError(t, json.Unmarshal(h.rt.spec("main").HostConfig, &host))
	require.NotEmpty(t, host.Binds)
	name, _, _ := strings.Cut(host.Binds[0], ":")
	return name
}
