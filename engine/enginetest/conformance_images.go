package enginetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// pullTimeout bounds a pull from a local registry.
const pullTimeout = 2 * time.Minute

func testVolumes(t *testing.T, s *suite) {
	ctx := t.Context()
	name := s.prefix + "vol"
	v, err := s.rt.CreateVolume(ctx, runtime.VolumeSpec{Name: name, Labels: map[string]string{LabelTest: "conformance"}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		if err := s.rt.RemoveVolume(ctx, name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: remove volume %s: %v", name, err)
		}
	})
	assert.Equal(t, name, v.Name)
	assert.Equal(t, "local", v.Driver)
	assert.NotEmpty(t, v.Mountpoint)

	again, err := s.rt.CreateVolume(ctx, runtime.VolumeSpec{Name: name})
	require.NoError(t, err, "creating an existing volume returns it")
	assert.Equal(t, v.Mountpoint, again.Mountpoint)

	got, err := s.rt.InspectVolume(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, "conformance", got.Labels[LabelTest])

	id := s.create(t, "mounts", s.config(t, exits(0), nil, nil), map[string]any{"Binds": []string{name + ":/data:ro"}})
	c, err := s.rt.InspectContainer(ctx, id)
	require.NoError(t, err)
	require.Len(t, c.Mounts, 1)
	assert.Equal(t, name, c.Mounts[0].Name)
	assert.Equal(t, "/data", c.Mounts[0].Destination)
	assert.True(t, c.Mounts[0].ReadOnly)

	require.NoError(t, s.rt.RemoveContainer(ctx, id))
	require.NoError(t, s.rt.RemoveVolume(ctx, name))
	_, err = s.rt.InspectVolume(ctx, name)
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

func testPullMissing(t *testing.T, s *suite) {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	err := s.rt.PullImage(ctx, s.h.MissingImage, runtime.PullOptions{InactivityTimeout: 20 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
	_, err = s.rt.InspectImage(t.Context(), s.h.MissingImage)
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

func testInspectImage(t *testing.T, s *suite) {
	img, err := s.rt.InspectImage(t.Context(), s.h.Image)
	require.NoError(t, err)
	assert.Contains(t, img.ID, "sha256:")
	assert.Contains(t, img.RepoTags, s.h.Image)
	assert.Positive(t, img.Size)
	byID, err := s.rt.InspectImage(t.Context(), img.ID)
	require.NoError(t, err)
	assert.Equal(t, img.ID, byID.ID)
}

// progressLines collects a pull's progress lines.
type progressLines struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLines) add(l string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, l)
}

func (p *progressLines) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func testPullProgress(t *testing.T, s *suite) {
	if s.h.Registry == nil {
		t.Skip("the harness has no registry")
	}
	reg := s.h.Registry(t)
	_, err := s.rt.InspectImage(t.Context(), reg.Ref)
	if errors.Is(err, runtime.ErrNotFound) {
		t.Cleanup(func() {
			ctx, cancel := cleanupCtx()
			defer cancel()
			if err := s.rt.RemoveImage(ctx, reg.Ref); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("cleanup: remove image %s: %v", reg.Ref, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), pullTimeout)
	defer cancel()
	var progress progressLines
	err = s.rt.PullImage(ctx, reg.Ref, runtime.PullOptions{
		Auth: &reg.Auth, InactivityTimeout: 30 * time.Second, Progress: progress.add,
	})
	require.NoError(t, err)
	lines := progress.get()
	t.Logf("progress: %q", lines)
	assert.GreaterOrEqual(t, len(lines), 2, "the pull reports its progress")
	img, err := s.rt.InspectImage(t.Context(), reg.Ref)
	require.NoError(t, err, "the pulled image is local")
	assert.Contains(t, img.RepoTags, reg.Ref)
}

func testPullAuth(t *testing.T, s *suite) {
	if s.h.Registry == nil {
		t.Skip("the harness has no registry")
	}
	reg := s.h.Registry(t)
	wrong := reg.Auth
	wrong.Password = "not-" + wrong.Password
	for name, auth := range map[string]*runtime.RegistryAuth{"wrong password": &wrong, "no credentials": nil} {
		ctx, cancel := context.WithTimeout(t.Context(), pullTimeout)
		err := s.rt.PullImage(ctx, reg.Ref, runtime.PullOptions{Auth: auth, InactivityTimeout: 30 * time.Second})
		cancel()
		require.ErrorIs(t, err, runtime.ErrAuth, name)
		assert.Contains(t, err.Error(), reg.Ref, "%s: the error names the image", name)
		assert.NotContains(t, err.Error(), reg.Auth.Password, "%s: the error holds the password", name)
	}
}

func testPullInactive(t *testing.T, s *suite) {
	if s.h.StalledImage == nil {
		t.Skip("the harness cannot stall a pull")
	}
	ref := s.h.StalledImage(t)
	ctx, cancel := context.WithTimeout(t.Context(), pullTimeout)
	defer cancel()
	var progress progressLines
	err := s.rt.PullImage(ctx, ref, runtime.PullOptions{InactivityTimeout: 2 * time.Second, Progress: progress.add})
	require.ErrorIs(t, err, runtime.ErrPullInactive)
	require.NoError(t, ctx.Err(), "the inactivity timer, not the test's deadline, ended the pull")
	assert.Contains(t, err.Error(), ref)
	assert.NotEmpty(t, progress.get(), "the pull started before it stalled")
	_, err = s.rt.InspectImage(t.Context(), ref)
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

// testRemoveImageInUse removes, by ID, the image a created container uses.
// By ID, never by reference: removing one of several tags only untags, and
// the suite must not take a tag away from a shared image.
func testRemoveImageInUse(t *testing.T, s *suite) {
	cfg := s.config(t, exits(0), nil, nil)
	id := s.create(t, "inuse", cfg, nil)
	c, err := s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err)

	err = s.rt.RemoveImage(t.Context(), c.ImageID)
	require.Error(t, err, "an image a container uses is not removed")
	assert.NotErrorIs(t, err, runtime.ErrNotFound)
	img, err := s.rt.InspectImage(t.Context(), cfg["Image"].(string))
	require.NoError(t, err, "the image is still there")
	assert.Equal(t, c.ImageID, img.ID)
	_, err = s.rt.InspectContainer(t.Context(), id)
	require.NoError(t, err, "so is the container")
}
