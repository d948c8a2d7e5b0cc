package images

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// dockerRuntime returns the real engine. It skips under -short (make
// test-unit runs without Docker), and without the engine or the test image
// unless CI=true, where they must be there.
func dockerRuntime(t *testing.T) *dockerapi.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Docker engine; skipped with -short")
	}
	c, err := dockerapi.New(os.Getenv("DOCKER_HOST"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the Docker engine is unavailable: %v", err)
		}
		t.Skipf("Docker engine unavailable (start dockerd or run scripts/dev-setup.sh): %v", err)
	}
	if _, err := c.InspectImage(ctx, enginetest.TestImage); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing (run make dev-setup): %v", enginetest.TestImage, err)
		}
		t.Skipf("%s is missing (run make dev-setup): %v", enginetest.TestImage, err)
	}
	return c
}

// The test image exists only locally, so every pull of it fails on this
// machine (no registry holds it): the behaviours differ in what they do
// about that.
func TestBehavioursOnDocker(t *testing.T) {
	rt := dockerRuntime(t)
	for _, tc := range []struct {
		behaviour string
		wantErr   bool
	}{
		{BehaviorDefault, false},
		{BehaviorAlways, true},
		{BehaviorOnce, true}, // never pulled by us, so it must pull, and only default falls back
		{BehaviorPreferCached, false},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			cfg := config.Default()
			cfg.ImagePullBehavior = tc.behaviour
			m, err := New(Options{Runtime: rt, Store: statemanager.NewMemory(), Config: cfg, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			img, err := m.Pull(ctx, enginetest.TestImage, "task/c")
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "pull "+enginetest.TestImage)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, img.RepoTags, enginetest.TestImage)
			require.Len(t, m.States(), 1)
			assert.False(t, m.States()[0].PullSucceeded)
		})
	}
}
