package stats

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// fakeTasks is the engine's snapshot, set by the test.
type fakeTasks struct {
	mu   sync.Mutex
	snap []engine.TaskSnapshot
}

func (f *fakeTasks) Snapshot() []engine.TaskSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeTasks) set(s ...engine.TaskSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

// runContainer starts a container on the fake runtime.
func runContainer(t *testing.T, f *enginetest.Fake, name string) string {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{"Image": enginetest.TestImage, "Cmd": []string{"sleep", "3600"}})
	id, err := f.CreateContainer(context.Background(), runtime.CreateSpec{Name: name, Config: cfg, HostConfig: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.NoError(t, f.StartContainer(context.Background(), id))
	return id
}

func task(arn string, containers ...engine.ContainerSnapshot) engine.TaskSnapshot {
	return engine.TaskSnapshot{ARN: arn, Family: "web", Version: "3", KnownStatus: engine.StatusRunning, Containers: containers}
}

func running(name, id string) engine.ContainerSnapshot {
	return engine.ContainerSnapshot{Name: name, DockerID: id, KnownStatus: engine.StatusRunning}
}

// start runs a collector in the bubble and stops it at the end of the test.
func start(t *testing.T, o Options) *Collector {
	c := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, c.Run(ctx))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

func TestCollectorFollowsTheEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := enginetest.NewFake()
		rt.SetImage(enginetest.TestImage)
		app := runContainer(t, rt, "app")
		side := runContainer(t, rt, "side")
		tasks := &fakeTasks{}
		tasks.set(task("arn:task/1", running("app", app), running("side", side)),
			task("arn:task/2", engine.ContainerSnapshot{Name: "pending"}))
		c := start(t, Options{Runtime: rt, Tasks: tasks, Cluster: "default"})

		time.Sleep(10*time.Second + time.Millisecond) // fake time: samples at 0..10 s
		synctest.Wait()
		tms := c.TaskMetrics()
		require.Len(t, tms, 1, "only tasks with running containers have metrics")
		tm := tms[0]
		assert.Equal(t, "arn:task/1", tm.TaskARN)
		assert.Equal(t, "default", tm.ClusterARN)
		assert.Equal(t, "web", tm.TaskDefinitionFamily)
		assert.Equal(t, "3", tm.TaskDefinitionVersion)
		require.Len(t, tm.ContainerMetrics, 2)
		cm := tm.ContainerMetrics[0]
		assert.Equal(t, "app", cm.ContainerName)
		assert.Equal(t, 10, cm.CPUStatsSet.SampleCount, "11 samples, one a second, give 10 intervals")
		assert.InDelta(t, 1.0, cm.CPUStatsSet.Max, 1e-9, "the fake uses 10 ms of CPU a second: 1 %")
		assert.InDelta(t, 4.0, cm.MemoryStatsSet.Min, 1e-9, "4 MiB")
		assert.Equal(t, int64(10*1024), cm.NetworkStatsSet.RxBytes.Sum)

		latest, ok := c.Latest(app)
		require.True(t, ok)
		assert.Equal(t, time.Now(), latest.Read.Add(time.Millisecond))
		assert.Contains(t, string(latest.Raw), `"cpu_stats"`, "the latest sample keeps Docker's JSON")

		// The side container stops: its series and its stream go.
		tasks.set(task("arn:task/1", running("app", app), engine.ContainerSnapshot{Name: "side", DockerID: side, KnownStatus: engine.StatusStopped}))
		time.Sleep(DefaultRefreshInterval)
		synctest.Wait()
		_, ok = c.Latest(side)
		assert.False(t, ok, "a stopped container's samples are dropped")
		tms = c.TaskMetrics()
		require.Len(t, tms, 1)
		require.Len(t, tms[0].ContainerMetrics, 1)
		assert.Equal(t, 5, tms[0].ContainerMetrics[0].CPUStatsSet.SampleCount, "only the samples since the last call")
	})
}

func TestCollectorPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := enginetest.NewFake()
		rt.SetImage(enginetest.TestImage)
		app := runContainer(t, rt, "app")
		tasks := &fakeTasks{}
		tasks.set(task("arn:task/1", running("app", app)))
		c := start(t, Options{Runtime: rt, Tasks: tasks, Poll: true, PollInterval: 5 * time.Second})

		time.Sleep(20*time.Second + time.Millisecond)
		synctest.Wait()
		tms := c.TaskMetrics()
		require.Len(t, tms, 1)
		assert.Equal(t, 4, tms[0].ContainerMetrics[0].CPUStatsSet.SampleCount, "samples at 0, 5, 10, 15 and 20 s")
		assert.Equal(t, 5, rt.Calls("StatsOnce"))
		assert.Zero(t, rt.Calls("StreamStats"), "polling never streams")
	})
}

// stallingStats sends one sample per stream, then nothing.
type stallingStats struct {
	streams atomic.Int32
}

func (s *stallingStats) StreamStats(ctx context.Context, id string, fn func(runtime.ContainerStats)) error {
	n := s.streams.Add(1)
	fn(runtime.ContainerStats{Read: time.Now(), CPUUsage: uint64(n) * 1e6})
	<-ctx.Done()
	return nil
}

func (s *stallingStats) StatsOnce(context.Context, string) (runtime.ContainerStats, error) {
	panic("not polled")
}

func TestCollectorRestartsAQuietStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &stallingStats{}
		tasks := &fakeTasks{}
		tasks.set(task("arn:task/1", running("app", "c1")))
		c := start(t, Options{Runtime: rt, Tasks: tasks})

		time.Sleep(streamInactivity - time.Millisecond)
		synctest.Wait()
		assert.EqualValues(t, 1, rt.streams.Load())
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		assert.EqualValues(t, 2, rt.streams.Load(), "a stream silent for 18 s is reopened")
		tms := c.TaskMetrics()
		require.Len(t, tms, 1, "the second stream's sample makes an interval with the first")
	})
}

// A missing container ends its watch for good; the next refresh does not
// restart it while the engine still says it runs, since that watch exists.
func TestCollectorStopsWatchingAGoneContainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := enginetest.NewFake()
		tasks := &fakeTasks{}
		tasks.set(task("arn:task/1", running("app", "no-such-container")))
		start(t, Options{Runtime: rt, Tasks: tasks})
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, rt.Calls("StreamStats"), "no retry loop against a container Docker does not have")
	})
}

// A stream reuses its buffer for every raw sample; what Latest returns must
// not change under the caller, nor change with the stream's buffer.
func TestLatestRawIsACopy(t *testing.T) {
	tasks := &fakeTasks{}
	tasks.set(task("arn:task/1", running("app", "c1")))
	c := New(Options{Tasks: tasks})
	c.refresh()
	buf := []byte(`{"read":"first"}`)
	c.add("c1", runtime.ContainerStats{Read: time.Now(), Raw: buf})
	copy(buf, `{"read":"again"}`) // the stream decodes its next sample
	got, ok := c.Latest("c1")
	require.True(t, ok)
	assert.JSONEq(t, `{"read":"first"}`, string(got.Raw))
	got.Raw[2] = 'X'
	again, _ := c.Latest("c1")
	assert.JSONEq(t, `{"read":"first"}`, string(again.Raw))
}
