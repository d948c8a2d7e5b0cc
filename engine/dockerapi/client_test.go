package dockerapi

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerClient returns a client for the local engine. It skips under
// -short (make test-unit runs without Docker) and when there is no engine,
// except under CI=true, where a missing engine is a failure.
func dockerClient(t *testing.T) *Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Docker engine; skipped with -short")
	}
	c, err := New(os.Getenv("DOCKER_HOST"))
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
	return c
}

func TestVersionAgainstDocker(t *testing.T) {
	c := dockerClient(t)
	v, err := c.Version(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, v.ServerVersion)
	assert.NotEmpty(t, v.APIVersion)
	require.NoError(t, v.CheckMinAPIVersion())
	assert.True(t, v.Supports(MinAPIVersion))
	assert.False(t, v.Supports("99.0"))
}

func TestUnreachableEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	c, err := New("unix://" + sock)
	require.NoError(t, err, "New does not contact the engine")
	defer c.Close()
	assert.Equal(t, "unix://"+sock, c.Endpoint())

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = c.Ping(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), sock)
	_, err = c.Version(ctx)
	require.Error(t, err)
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	_, err := New("not a url")
	require.Error(t, err)
}

func TestNewDefaultEndpoint(t *testing.T) {
	c, err := New("")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, DefaultEndpoint, c.Endpoint())
}

func TestCompareAPIVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.21", "1.21", 0},
		{"1.9", "1.21", -1},
		{"1.41", "1.21", 1},
		{"2.0", "1.99", 1},
		{"1.21", "1.21.0", 0},
		{"", "1.21", -1},
	} {
		assert.Equal(t, tc.want, CompareAPIVersions(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

func TestCheckMinAPIVersion(t *testing.T) {
	require.NoError(t, VersionInfo{ServerVersion: "20.10", APIVersion: "1.41"}.CheckMinAPIVersion())
	require.NoError(t, VersionInfo{APIVersion: "1.21"}.CheckMinAPIVersion())
	err := VersionInfo{ServerVersion: "1.8.3", APIVersion: "1.20"}.CheckMinAPIVersion()
	require.ErrorIs(t, err, ErrAPITooOld)
	assert.Contains(t, err.Error(), "1.20")
	require.ErrorIs(t, VersionInfo{}.CheckMinAPIVersion(), ErrAPITooOld)
}

func TestSupports(t *testing.T) {
	v := VersionInfo{APIVersion: "1.41", MinAPIVersion: "1.12"}
	assert.True(t, v.Supports("1.17"))
	assert.True(t, v.Supports("1.41"))
	assert.False(t, v.Supports("1.42"))
	assert.False(t, v.Supports("1.11"))
	assert.True(t, VersionInfo{APIVersion: "1.24"}.Supports("1.17"), "no minimum reported")
}
