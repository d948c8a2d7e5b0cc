package enginetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

var bg = context.Background()

func create(t *testing.T, f *Fake, name string, cfg string) string {
	t.Helper()
	id, err := f.CreateContainer(bg, runtime.CreateSpec{Name: name, Config: []byte(cfg)})
	require.NoError(t, err)
	return id
}

func TestFakeInjectedErrorsAndCalls(t *testing.T) {
	f := NewFake()
	f.SetImage(TestImage)
	boom := errors.New("boom")
	f.FailNext("CreateContainer", boom)
	f.FailNext("CreateContainer", boom)
	for range 2 {
		_, err := f.CreateContainer(bg, runtime.CreateSpec{Name: "a", Config: []byte(`{"Image":"` + TestImage + `"}`)})
		require.ErrorIs(t, err, boom)
	}
	id := create(t, f, "a", `{"Image":"`+TestImage+`"}`)
	assert.Equal(t, 3, f.Calls("CreateContainer"))

	f.SetError("InspectContainer", boom)
	for range 3 {
		_, err := f.InspectContainer(bg, id)
		require.ErrorIs(t, err, boom)
	}
	f.SetError("InspectContainer", nil)
	_, err := f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.Equal(t, 4, f.Calls("InspectContainer"))

	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err = f.InspectContainer(ctx, id)
	require.ErrorIs(t, err, context.Canceled, "a done context fails the call")
}

func TestFakeExitAndHealth(t *testing.T) {
	f := NewFake()
	f.SetImage(TestImage)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	evc, _ := f.Events(ctx)

	id := create(t, f, "web", `{"Image":"`+TestImage+`","Healthcheck":{"Test":["CMD","curl","localhost"]}}`)
	require.NoError(t, f.StartContainer(bg, id))
	c, err := f.InspectContainer(bg, "web")
	require.NoError(t, err)
	assert.Equal(t, runtime.HealthStarting, c.Health, "without a Program's Health, the check waits for SetHealth")

	require.NoError(t, f.SetHealth(id, runtime.HealthHealthy))
	require.NoError(t, f.SetHealth(id, runtime.HealthHealthy), "no event without a change")
	require.NoError(t, f.Exit(id, 9))
	require.Error(t, f.Exit(id, 1), "only a running container exits")
	require.Error(t, f.SetHealth(id, runtime.HealthHealthy))
	require.ErrorIs(t, f.Exit("nope", 1), runtime.ErrNotFound)

	var got []string
	for len(got) < 4 {
		ev := <-evc
		got = append(got, ev.Action+":"+ev.Health)
		if ev.Action == runtime.EventDie {
			require.NotNil(t, ev.ExitCode)
			assert.Equal(t, 9, *ev.ExitCode)
		}
	}
	assert.Equal(t, []string{"create:", "start:", "health_status:healthy", "die:"}, got)

	c, err = f.InspectContainer(bg, id[:12])
	require.NoError(t, err, "inspect by ID prefix")
	assert.Equal(t, runtime.StateExited, c.State)
	assert.Equal(t, 9, c.ExitCode)

	require.NoError(t, f.StartContainer(bg, id), "an exited container restarts")
	c, err = f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateRunning, c.State)
	assert.True(t, c.FinishedAt.IsZero())
}

func TestFakeBreakEvents(t *testing.T) {
	f := NewFake()
	evc, errc := f.Events(bg)
	f.BreakEvents(errors.New("docker restarted"))
	for range evc {
	}
	err := <-errc
	require.EqualError(t, err, "docker restarted")

	f.SetError("Events", errors.New("no stream"))
	evc, errc = f.Events(bg)
	_, open := <-evc
	assert.False(t, open)
	require.EqualError(t, <-errc, "no stream")
}

func TestFakeRegistry(t *testing.T) {
	f := NewFake()
	creds := &runtime.RegistryAuth{Username: "u", Password: "p"}
	id := f.SetRegistryImage("127.0.0.1:5000/app:1", creds)

	err := f.PullImage(bg, "127.0.0.1:5000/app:1", runtime.PullOptions{})
	require.ErrorIs(t, err, runtime.ErrAuth)
	err = f.PullImage(bg, "127.0.0.1:5000/app:1", runtime.PullOptions{Auth: &runtime.RegistryAuth{Username: "u", Password: "x"}})
	require.ErrorIs(t, err, runtime.ErrAuth)
	var lines []string
	require.NoError(t, f.PullImage(bg, "127.0.0.1:5000/app:1", runtime.PullOptions{Auth: creds, Progress: func(l string) { lines = append(lines, l) }}))
	assert.NotEmpty(t, lines)
	img, err := f.InspectImage(bg, "127.0.0.1:5000/app:1")
	require.NoError(t, err)
	assert.Equal(t, id, img.ID)

	require.ErrorIs(t, f.PullImage(bg, "busybox", runtime.PullOptions{}), runtime.ErrNotFound)

	// A new push moves the tag; the old image keeps no name.
	id2 := f.SetRegistryImage("127.0.0.1:5000/app:1", nil)
	require.NoError(t, f.PullImage(bg, "127.0.0.1:5000/app:1", runtime.PullOptions{}))
	img, err = f.InspectImage(bg, "127.0.0.1:5000/app:1")
	require.NoError(t, err)
	assert.Equal(t, id2, img.ID)
	old, err := f.InspectImage(bg, id)
	require.NoError(t, err)
	assert.Empty(t, old.RepoTags)
}

func TestFakeRemoveImage(t *testing.T) {
	f := NewFake()
	id := f.SetImage("busybox")
	require.NoError(t, f.TagImage("busybox", "docker.io/library/busybox:1"))
	cid := create(t, f, "c", `{"Image":"busybox:1"}`)

	require.NoError(t, f.RemoveImage(bg, "busybox:1"), "removing one of two tags only untags")
	require.Error(t, f.RemoveImage(bg, id), "a container uses it")
	require.NoError(t, f.RemoveContainer(bg, cid))
	require.NoError(t, f.RemoveImage(bg, "busybox"))
	_, err := f.InspectImage(bg, id)
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

func TestFakeBlockPulls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake()
		f.SetRegistryImage("app:1", nil)
		release := f.BlockPulls()
		done := make(chan error, 1)
		go func() { done <- f.PullImage(bg, "app:1", runtime.PullOptions{}) }()
		synctest.Wait()
		assert.Equal(t, 1, f.PullsWaiting())
		release()
		release()
		require.NoError(t, <-done)

		release = f.BlockPulls()
		defer release()
		start := time.Now()
		err := f.PullImage(bg, "app:1", runtime.PullOptions{InactivityTimeout: time.Minute})
		require.ErrorIs(t, err, runtime.ErrPullInactive)
		assert.Equal(t, time.Minute, time.Since(start))
	})
}

func TestFakeStopWaitsForTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake()
		f.SetImage("stubborn:1")
		f.SetProgram("stubborn:1", Program{IgnoreTerm: true})
		id := create(t, f, "c", `{"Image":"stubborn:1"}`)
		require.NoError(t, f.StartContainer(bg, id))
		start := time.Now()
		require.NoError(t, f.StopContainer(bg, id, 30*time.Second))
		assert.Equal(t, 30*time.Second, time.Since(start))
		c, err := f.InspectContainer(bg, id)
		require.NoError(t, err)
		assert.Equal(t, 137, c.ExitCode)

		// Exit during the grace period ends the stop early with its own code.
		require.NoError(t, f.StartContainer(bg, id))
		go func() {
			time.Sleep(time.Second)
			_ = f.Exit(id, 0)
		}()
		start = time.Now()
		require.NoError(t, f.StopContainer(bg, id, 30*time.Second))
		assert.Equal(t, time.Second, time.Since(start))
		c, err = f.InspectContainer(bg, id)
		require.NoError(t, err)
		assert.Equal(t, 0, c.ExitCode)
	})
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake()
	f.SetImage(TestImage)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	evc, _ := f.Events(ctx)
	go func() {
		for range evc {
		}
	}()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				name := "c" + string(rune('a'+i)) + string(rune('a'+j))
				id, err := f.CreateContainer(bg, runtime.CreateSpec{Name: name,
					Config:     []byte(`{"Image":"` + TestImage + `","Labels":{"i":"x"}}`),
					HostConfig: []byte(`{"PortBindings":{"80/tcp":[{"HostPort":"0"}]},"Binds":["v` + name + `:/data"]}`)})
				assert.NoError(t, err)
				assert.NoError(t, f.StartContainer(bg, id))
				_, err = f.ListContainers(bg, map[string]string{"i": ""})
				assert.NoError(t, err)
				assert.NoError(t, f.StopContainer(bg, id, time.Second))
				assert.NoError(t, f.RemoveContainer(bg, id))
			}
		})
	}
	wg.Wait()
	assert.Empty(t, f.Containers())
}

func TestFakeOOMKill(t *testing.T) {
	f := NewFake()
	f.SetImage(TestImage)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	id := create(t, f, "c", `{"Image":"`+TestImage+`"}`)
	require.NoError(t, f.StartContainer(bg, id))
	evc, _ := f.Events(ctx)
	require.NoError(t, f.OOMKill(id))
	assert.Equal(t, runtime.EventOOM, (<-evc).Action)
	die := <-evc
	assert.Equal(t, runtime.EventDie, die.Action)
	assert.Equal(t, 137, *die.ExitCode)
	c, err := f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.True(t, c.OOMKilled)
	assert.Equal(t, 137, c.ExitCode)
	require.Error(t, f.OOMKill(id))
}

func TestFakePortBindings(t *testing.T) {
	f := NewFake()
	f.SetImage(TestImage)
	f.SetIPv6Bindings(true)
	id, err := f.CreateContainer(bg, runtime.CreateSpec{Name: "p",
		Config:     []byte(`{"Image":"` + TestImage + `"}`),
		HostConfig: []byte(`{"PortBindings":{"80/tcp":[{"HostPort":"0"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}]}}`)})
	require.NoError(t, err)
	c, err := f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.Empty(t, c.Ports, "no bindings before start")
	require.NoError(t, f.StartContainer(bg, id))
	c, err = f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.ElementsMatch(t, []runtime.PortBinding{
		{ContainerPort: 80, HostPort: firstHostPort, HostIP: "0.0.0.0", Protocol: "tcp"},
		{ContainerPort: 80, HostPort: firstHostPort, HostIP: "::", Protocol: "tcp"},
		{ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1", Protocol: "udp"},
	}, c.Ports)
	require.NoError(t, f.StopContainer(bg, id, time.Second))
	c, err = f.InspectContainer(bg, id)
	require.NoError(t, err)
	assert.Empty(t, c.Ports, "no bindings after stop")
}
