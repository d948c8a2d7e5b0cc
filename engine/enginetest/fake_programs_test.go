package enginetest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// TestFakeIgnoresTheCommand: what a container does comes from its image's
// Program, never from the text of its command or health check (the fake
// used to run a container whose script contained "sleep" and exit others).
func TestFakeIgnoresTheCommand(t *testing.T) {
	f := NewFake()
	f.SetImage("exits:1")
	f.SetProgram("exits:1", Program{Exits: true, ExitCode: 4})
	f.SetImage("runs:1")

	sleeper := create(t, f, "sleeper", `{"Image":"exits:1","Cmd":["sh","-c","sleep 3600"]}`)
	exiter := create(t, f, "exiter", `{"Image":"runs:1","Cmd":["sh","-c","exit 3"],"Healthcheck":{"Test":["CMD-SHELL","exit 0"]}}`)
	require.NoError(t, f.StartContainer(bg, sleeper))
	require.NoError(t, f.StartContainer(bg, exiter))

	c, err := f.InspectContainer(bg, sleeper)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateExited, c.State, "its image's Program exits, whatever the command says")
	assert.Equal(t, 4, c.ExitCode)
	c, err = f.InspectContainer(bg, exiter)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateRunning, c.State, "without a Program it runs, whatever the command says")
	assert.Equal(t, runtime.HealthStarting, c.Health, "the health check's text decides nothing either")
}

func TestFakeProgramByReferenceOrID(t *testing.T) {
	f := NewFake()
	id := f.SetImage("app:1")
	require.NoError(t, f.TagImage("app:1", "docker.io/library/app:latest"))
	f.SetProgram(id, Program{Exits: true, ExitCode: 1})
	f.SetProgram("app", Program{Exits: true, ExitCode: 2}) // app:latest, the same image

	byID := create(t, f, "a", `{"Image":"app:1"}`)
	byRef := create(t, f, "b", `{"Image":"docker.io/library/app"}`)
	for id, want := range map[string]int{byID: 1, byRef: 2} {
		require.NoError(t, f.StartContainer(bg, id))
		c, err := f.InspectContainer(bg, id)
		require.NoError(t, err)
		assert.Equal(t, want, c.ExitCode, "a reference's Program wins over its image's")
	}
}

func TestFakeStartFailures(t *testing.T) {
	f := NewFake()
	f.SetImage("app:1")
	f.SetImage("broken:1")
	f.SetProgram("broken:1", Program{StartFails: true})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	evc, _ := f.Events(ctx)

	broken := create(t, f, "broken", `{"Image":"broken:1"}`)
	require.Error(t, f.StartContainer(bg, broken))
	c, err := f.InspectContainer(bg, broken)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateCreated, c.State)
	assert.Equal(t, 127, c.ExitCode)
	assert.NotEmpty(t, c.Error)

	release := f.OccupyPort("tcp", 8080)
	web := `{"Image":"app:1"}`
	first, err := f.CreateContainer(bg, runtime.CreateSpec{Name: "web1", Config: []byte(web),
		HostConfig: []byte(`{"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}`)})
	require.NoError(t, err)
	err = f.StartContainer(bg, first)
	require.ErrorContains(t, err, "0.0.0.0:8080: bind: address already in use")
	c, err = f.InspectContainer(bg, first)
	require.NoError(t, err)
	assert.Equal(t, runtime.StateCreated, c.State)
	assert.Contains(t, c.Error, "8080")
	release()
	require.NoError(t, f.StartContainer(bg, first), "the port is free again")

	second, err := f.CreateContainer(bg, runtime.CreateSpec{Name: "web2", Config: []byte(web),
		HostConfig: []byte(`{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]}}`)})
	require.NoError(t, err)
	require.ErrorContains(t, f.StartContainer(bg, second), "127.0.0.1:8080 failed: port is already allocated")
	require.NoError(t, f.StopContainer(bg, first, time.Second))
	require.NoError(t, f.StartContainer(bg, second), "a stopped container holds no port")

	// Failed starts emit nothing: create (broken), create (web1), start
	// (web1), create (web2), kill, die, stop (web1), start (web2).
	var got []string
	for len(got) < 8 {
		got = append(got, (<-evc).Action)
	}
	assert.Equal(t, []string{"create", "create", "start", "create", "kill", "die", "stop", "start"}, got)
}

func TestFakeProgramOOMAndHealth(t *testing.T) {
	f := NewFake()
	f.SetImage("hog:1")
	f.SetProgram("hog:1", Program{OOM: true})
	f.SetImage("web:1")
	f.SetProgram("web:1", Program{Health: runtime.HealthUnhealthy})

	hog := create(t, f, "hog", `{"Image":"hog:1"}`)
	require.NoError(t, f.StartContainer(bg, hog))
	c, err := f.InspectContainer(bg, hog)
	require.NoError(t, err)
	assert.True(t, c.OOMKilled)
	assert.Equal(t, 137, c.ExitCode)

	plain := create(t, f, "plain", `{"Image":"web:1"}`)
	checked := create(t, f, "checked", `{"Image":"web:1","Healthcheck":{"Test":["CMD","true"]}}`)
	disabled := create(t, f, "disabled", `{"Image":"web:1","Healthcheck":{"Test":["NONE"]}}`)
	for id, want := range map[string]string{plain: "", checked: runtime.HealthUnhealthy, disabled: ""} {
		require.NoError(t, f.StartContainer(bg, id))
		c, err := f.InspectContainer(bg, id)
		require.NoError(t, err)
		assert.Equal(t, want, c.Health, "a Program's Health applies only to a container with a health check")
	}
}

func TestFakeBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake()
		release := f.Block("CreateVolume")
		ctx, cancel := context.WithTimeout(bg, time.Minute)
		defer cancel()
		start := time.Now()
		_, err := f.CreateVolume(ctx, runtime.VolumeSpec{Name: "v"})
		require.ErrorIs(t, err, context.DeadlineExceeded, "a blocked call ends with its context")
		assert.Equal(t, time.Minute, time.Since(start))
		assert.Equal(t, 1, f.Calls("CreateVolume"))

		done := make(chan error, 1)
		go func() { _, err := f.CreateVolume(bg, runtime.VolumeSpec{Name: "v"}); done <- err }()
		synctest.Wait()
		assert.Equal(t, 2, f.Calls("CreateVolume"), "a blocked call is counted when it arrives")
		release()
		release()
		require.NoError(t, <-done)
		_, err = f.InspectVolume(bg, "v")
		require.NoError(t, err, "InspectVolume was not blocked")
	})
}

func TestFakeStallPull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := NewFake()
		f.SetRegistryImage("reg.test/app:1", nil)
		f.StallPull("reg.test/app:1")
		var lines []string
		err := f.PullImage(bg, "reg.test/app:1", runtime.PullOptions{InactivityTimeout: 30 * time.Second,
			Progress: func(l string) { lines = append(lines, l) }})
		require.ErrorIs(t, err, runtime.ErrPullInactive)
		assert.Equal(t, []string{"1: Pulling from reg.test/app", lines[1]}, lines, "the pull started, then stalled")
		_, err = f.InspectImage(bg, "reg.test/app:1")
		require.ErrorIs(t, err, runtime.ErrNotFound)
	})
}

func TestFakeRemoveImageByIDWithSeveralTags(t *testing.T) {
	f := NewFake()
	id := f.SetImage("app:1")
	require.NoError(t, f.TagImage("app:1", "app:2"))
	require.ErrorContains(t, f.RemoveImage(bg, id), "referenced in multiple repositories")
	require.NoError(t, f.RemoveImage(bg, "app:2"))
	require.NoError(t, f.RemoveImage(bg, id))
}
