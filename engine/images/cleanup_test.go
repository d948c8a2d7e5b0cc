package images

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// pulled pulls each reference through m for a container that is then
// removed (Release), leaving the image unused, and returns the image IDs.
func pulled(t *testing.T, e *env, m *Manager, refs ...string) []string {
	t.Helper()
	var ids []string
	for _, r := range refs {
		e.rt.SetRegistryImage(r, nil)
		img, err := m.Pull(bg, r, "gone/"+r)
		require.NoError(t, err)
		m.Release("gone/" + r)
		ids = append(ids, img.ID)
	}
	return ids
}

func localImage(t *testing.T, rt runtime.Runtime, ref string) bool {
	t.Helper()
	_, err := rt.InspectImage(bg, ref)
	if errors.Is(err, runtime.ErrNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

func TestCleanupRemovesLeastRecentlyUsedFirst(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.MinimumImageDeletionAge = time.Hour
		c.NumImagesToDeletePerCycle = 2
	})
	m := e.manager(t)
	ids := pulled(t, e, m, "a:1", "b:1", "c:1", "d:1")

	m.Use("a:1", "task1/web")
	m.Use("b:1", "task1/db")
	m.Use("docker.io/library/c:1", "task2/web") // another spelling of c:1
	e.clock.Advance(time.Minute)
	m.Release("task1/db") // b used last-but-one
	e.clock.Advance(time.Minute)
	m.Release("task2/web") // c used last

	assert.Empty(t, m.Cleanup(bg), "nothing is older than ECS_IMAGE_MINIMUM_CLEANUP_AGE")

	e.clock.Advance(2 * time.Hour)
	// d was never used (LastUsedAt = pull time), then b, then c; a is in use.
	assert.Equal(t, []string{ids[3], ids[1]}, m.Cleanup(bg))
	assert.False(t, localImage(t, e.rt, "d:1"))
	assert.False(t, localImage(t, e.rt, "b:1"))
	var s ImageState
	require.ErrorIs(t, e.store.Get(statemanager.BucketImages, ids[1], &s), statemanager.ErrNotFound, "removed images are forgotten")

	assert.Equal(t, []string{ids[2]}, m.Cleanup(bg))
	assert.Empty(t, m.Cleanup(bg), "a is still in use")
	assert.True(t, localImage(t, e.rt, "a:1"))

	m.Release("task1/web")
	assert.Equal(t, []string{ids[0]}, m.Cleanup(bg))
	assert.Empty(t, m.States())
}

func TestCleanupSkipsExcludedAndKeepsFailures(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.MinimumImageDeletionAge = time.Minute
		c.ImageCleanupExclusionList = []string{"keep", "docker.io/library/pinned:2"}
	})
	m := e.manager(t)
	ids := pulled(t, e, m, "keep:latest", "pinned:2", "gone:1", "busy:1")
	// A container outside the agent's knowledge uses busy:1: Docker refuses.
	_, err := e.rt.CreateContainer(bg, runtime.CreateSpec{Name: "other", Config: []byte(`{"Image":"busy:1"}`)})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)

	assert.Equal(t, []string{ids[2]}, m.Cleanup(bg))
	assert.True(t, localImage(t, e.rt, "keep"))
	assert.True(t, localImage(t, e.rt, "pinned:2"))
	assert.True(t, localImage(t, e.rt, "busy:1"))
	assert.Contains(t, e.logs.String(), "removing image failed")
	assert.Len(t, m.States(), 3, "a failed removal keeps the image tracked")
}

func TestCleanupForgetsImagesGoneFromDocker(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.MinimumImageDeletionAge = time.Minute })
	m := e.manager(t)
	ids := pulled(t, e, m, "a:1")
	require.NoError(t, e.rt.RemoveImage(bg, "a:1"))
	e.clock.Advance(time.Hour)
	assert.Equal(t, ids, m.Cleanup(bg))
	assert.Empty(t, m.States())
}

func TestCleanupRemovesEveryName(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.MinimumImageDeletionAge = time.Minute })
	id := e.rt.SetRegistryImage("a:1", nil)
	m := e.manager(t)
	_, err := m.Pull(bg, "a:1", "t/a")
	require.NoError(t, err)
	// The same image under a second name; the registry lacks it, so the
	// default behaviour falls back to the cached copy and tracks the name.
	require.NoError(t, e.rt.TagImage("a:1", "a:latest"))
	img, err := m.Pull(bg, "a", "t/b")
	require.NoError(t, err)
	require.Equal(t, id, img.ID)
	m.Release("t/a")
	m.Release("t/b")
	require.Len(t, m.States(), 1)
	assert.ElementsMatch(t, []string{"a:1", "a:latest"}, m.States()[0].Names)
	e.clock.Advance(time.Hour)
	assert.Equal(t, []string{id}, m.Cleanup(bg))
	assert.False(t, localImage(t, e.rt, "a:1"))
	assert.False(t, localImage(t, e.rt, "a:latest"))
}

func TestRunCleansUpEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) {
			c.ImageCleanupInterval = 10 * time.Minute
			c.MinimumImageDeletionAge = time.Minute
		})
		e.clock = &clock{t: time.Now()}
		m := e.manager(t)
		m.now = time.Now // the bubble's clock moves with the ticker
		pulled(t, e, m, "a:1")

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		time.Sleep(9 * time.Minute) // synctest: advances the fake clock
		synctest.Wait()
		assert.True(t, localImage(t, e.rt, "a:1"), "no cycle before the interval")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.False(t, localImage(t, e.rt, "a:1"), "removed by the first cycle")
		cancel()
		require.NoError(t, <-done)
	})
}

func TestRunDisabled(t *testing.T) {
	for name, edit := range map[string]func(*config.Config){
		"ECS_DISABLE_IMAGE_CLEANUP": func(c *config.Config) { c.ImageCleanupDisabled = true },
		"prefer-cached":             func(c *config.Config) { c.ImagePullBehavior = BehaviorPreferCached },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *config.Config) {
					edit(c)
					c.ImageCleanupInterval = 10 * time.Minute
					c.MinimumImageDeletionAge = 0
				})
				m := e.manager(t)
				m.now = time.Now
				pulled(t, e, m, "a:1")
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- m.Run(ctx) }()
				time.Sleep(time.Hour)
				synctest.Wait()
				assert.Equal(t, 0, e.rt.Calls("RemoveImage"))
				cancel()
				require.NoError(t, <-done)
			})
		})
	}
}
