package images

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// An image Pull hands out must still exist when the container is created:
// cleanup may not remove it between the pull returning and the task using
// it, nor while the pull is looking at it.

func oldCachedImage(t *testing.T) (*env, *Manager) {
	t.Helper()
	e := newEnv(t, func(c *config.Config) { c.MinimumImageDeletionAge = time.Hour })
	e.rt.SetImage(app) // cached only: the default behaviour falls back to it
	m := e.manager(t)
	_, err := m.Pull(bg, app, "old/c")
	require.NoError(t, err)
	m.Release("old/c")
	e.clock.Advance(2 * time.Hour) // old enough to be cleaned up
	return e, m
}

func TestCleanupLeavesTheImageAPullHandedOut(t *testing.T) {
	e, m := oldCachedImage(t)
	_, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Empty(t, m.Cleanup(bg), "cleanup removed the image a pull had just handed to a container")
	assert.True(t, localImage(t, e.rt, app))

	m.Release("task/c")
	assert.Len(t, m.Cleanup(bg), 1, "once the container is gone the image can go")
}

// hookRuntime runs a hook inside InspectImage, after the image was found.
type hookRuntime struct {
	*enginetest.Fake
	afterInspect func()
}

func (h *hookRuntime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	img, err := h.Fake.InspectImage(ctx, ref)
	if h.afterInspect != nil {
		h.afterInspect()
	}
	return img, err
}

func TestCleanupDuringAPullLeavesItsImage(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.MinimumImageDeletionAge = time.Hour
		c.ImagePullBehavior = BehaviorPreferCached // Pull only inspects the cached image
	})
	e.rt.SetImage(app)
	hr := &hookRuntime{Fake: e.rt}
	m, err := New(Options{Runtime: hr, Store: statemanager.NewMemory(), Config: e.cfg, Now: e.clock.Now})
	require.NoError(t, err)
	_, err = m.Pull(bg, app, "old/c")
	require.NoError(t, err)
	m.Release("old/c")
	e.clock.Advance(2 * time.Hour)

	var removed []string
	hr.afterInspect = func() { removed = m.Cleanup(bg) } // cleanup fires while Pull looks
	img, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Empty(t, removed, "cleanup removed the image a pull was handing out")
	_, err = e.rt.InspectImage(bg, img.ID)
	require.NoError(t, err, "the image Pull returned exists")
}

func TestPullWaitsForARemovalUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, m := oldCachedImage(t)
		newID := e.rt.SetRegistryImage(app, nil) // the registry has it now
		release := e.rt.Block("RemoveImage")
		defer release()
		cleaned := make(chan []string, 1)
		go func() { cleaned <- m.Cleanup(bg) }()
		synctest.Wait() // cleanup is removing the old image

		inspects, pulls := e.rt.Calls("InspectImage"), e.rt.Calls("PullImage")
		pulled := make(chan runtime.Image, 1)
		go func() {
			img, err := m.Pull(bg, app, "task/c")
			assert.NoError(t, err)
			pulled <- img
		}()
		synctest.Wait()
		assert.Empty(t, pulled, "the pull waits for the removal under way")
		assert.Equal(t, inspects, e.rt.Calls("InspectImage"), "and does not look at the image being removed")
		assert.Equal(t, pulls, e.rt.Calls("PullImage"))

		release()
		assert.Len(t, <-cleaned, 1)
		img := <-pulled
		assert.Equal(t, newID, img.ID, "the pull fetched the image again")
		assert.True(t, localImage(t, e.rt, app), "the image Pull returned exists")
	})
}
