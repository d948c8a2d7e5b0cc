package ecsinit

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/testutil"
)

// writeTarball writes a minimal `docker save` archive whose manifest names
// config (either "<hex>.json" or "blobs/sha256/<hex>") and tags.
func writeTarball(t *testing.T, dir, config string, tags ...string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	quoted := make([]string, len(tags))
	for i, tag := range tags {
		quoted[i] = strconv.Quote(tag)
	}
	manifest := fmt.Sprintf(`[{"Config":%q,"RepoTags":[%s],"Layers":[]}]`, config, strings.Join(quoted, ","))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}))
	_, err := tw.Write([]byte(manifest))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, ImageTarball), buf.Bytes(), 0o644))
}

func TestTarballImage(t *testing.T) {
	dir := t.TempDir()
	for _, config := range []string{"abc123.json", "blobs/sha256/abc123"} {
		writeTarball(t, dir, config, "open-ecs/ecs-agent:latest")
		id, tags, err := tarballImage(filepath.Join(dir, ImageTarball))
		require.NoError(t, err, config)
		assert.Equal(t, "sha256:abc123", id, config)
		assert.Equal(t, []string{"open-ecs/ecs-agent:latest"}, tags)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ImageTarball), []byte("not a tar"), 0o644))
	_, _, err := tarballImage(filepath.Join(dir, ImageTarball))
	assert.Error(t, err)
}

func testLauncher(t *testing.T, settings ...string) (*Launcher, *fakeDocker, *testutil.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	settings = append(settings, "ECS_INIT_CACHE_DIR="+dir+"/cache", "ECS_INIT_LOG_DIR="+dir+"/log",
		"ECS_HOST_DATA_DIR="+dir+"/lib", "ECS_INIT_RUN_DIR="+dir+"/run")
	out := &testutil.SyncBuffer{}
	d := newFakeDocker()
	return &Launcher{Config: defaults(t, settings...), Docker: d, Stdout: out, Stderr: out}, d, out
}

// TestEnsureImage: the tarball is loaded only when the local image is not
// the one it holds; without a tarball a missing image is pulled.
func TestEnsureImage(t *testing.T) {
	l, d, _ := testLauncher(t)
	require.NoError(t, os.MkdirAll(l.Config.CacheDir, 0o755))
	writeTarball(t, l.Config.CacheDir, "abc.json", DefaultImage)
	d.loadAs = map[string]string{DefaultImage: "sha256:abc"}
	require.NoError(t, l.ensureImage(t.Context(), false))
	require.NoError(t, l.ensureImage(t.Context(), false))
	assert.Equal(t, []string{"load"}, d.Calls(), "loaded once: the second time the image matches the tarball")
	require.NoError(t, l.ReloadCache(t.Context()))
	assert.Equal(t, []string{"load", "load"}, d.Calls(), "reload-cache always loads")

	// A tarball of another image: a clear error naming what it holds.
	l, d, _ = testLauncher(t)
	require.NoError(t, os.MkdirAll(l.Config.CacheDir, 0o755))
	writeTarball(t, l.Config.CacheDir, "abc.json", "other/image:1")
	d.loadAs = map[string]string{"other/image:1": "sha256:abc"}
	err := l.ensureImage(t.Context(), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "other/image:1")
	assert.Contains(t, err.Error(), "ECS_INIT_AGENT_IMAGE")

	// No tarball: pulled when missing, kept when present.
	l, d, _ = testLauncher(t)
	require.NoError(t, l.ensureImage(t.Context(), false))
	require.NoError(t, l.ensureImage(t.Context(), false))
	assert.Equal(t, []string{"pull " + DefaultImage}, d.Calls())
	l, d, _ = testLauncher(t)
	d.pullErr = errors.New("no route to registry")
	err = l.ensureImage(t.Context(), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no tarball at")
	assert.Error(t, l.ReloadCache(t.Context()), "reload-cache without a tarball")
}

// TestStartReturnsTheAgentsExitCode: start replaces the old container,
// creates the agent's, copies its output and returns its exit code.
func TestStartReturnsTheAgentsExitCode(t *testing.T) {
	l, d, out := testLauncher(t)
	d.images[DefaultImage] = "sha256:x"
	d.exitCode = 5
	close(d.exit)
	code, err := l.Start(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 5, code)
	assert.Equal(t, []string{"remove ecs-agent", "create ecs-agent", "start"}, d.Calls())
	assert.Equal(t, AgentContainer(l.Config), d.spec)
	assert.Contains(t, out.String(), "agent output")
	for _, dir := range []string{l.Config.LogDir, l.Config.HostDataDir + "/data"} {
		assert.DirExists(t, dir)
	}
}

// TestStartStopsTheAgentOnCancel: SIGTERM to ecs-init stops the container
// within StopTimeout and start still returns the agent's exit code.
func TestStartStopsTheAgentOnCancel(t *testing.T) {
	l, d, _ := testLauncher(t)
	d.images[DefaultImage] = "sha256:x"
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		code, err := l.Start(ctx)
		assert.NoError(t, err)
		done <- code
	}()
	waitUntil(t, "the container to start", func() bool { return slices.Contains(d.Calls(), "start") })
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("start did not return after cancel")
	}
	assert.Contains(t, d.Calls(), "stop 0123456789abcdef "+StopTimeout.String())
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// fakeAgentEnv makes the test binary act as the agent (see TestMain).
const fakeAgentEnv = "ECSINIT_TEST_FAKE_AGENT"

func TestMain(m *testing.M) {
	if os.Getenv(fakeAgentEnv) != "" {
		os.Exit(fakeAgent())
	}
	os.Exit(m.Run())
}

// fakeAgent prints its arguments and environment, then exits with the
// code in the environment, or 0 on SIGTERM when that code is "wait".
func fakeAgent() int {
	fmt.Println("args:", strings.Join(os.Args[1:], " "))
	fmt.Println("ECS_DATADIR=" + os.Getenv("ECS_DATADIR"))
	code := os.Getenv(fakeAgentEnv)
	if code != "wait" {
		n, _ := strconv.Atoi(code)
		return n
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("waiting")
	<-sig
	return 0
}

// TestBinaryMode: with ECS_INIT_AGENT_MODE=binary ecs-init runs the agent
// binary itself, with host paths, and stop reaches it through the pid file.
func TestBinaryMode(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	l, _, out := testLauncher(t, "ECS_INIT_AGENT_MODE=binary", "ECS_INIT_AGENT_BINARY="+exe)
	l.Docker = nil
	l.Environ = []string{fakeAgentEnv + "=7"}
	code, err := l.Start(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 7, code, "the agent's exit code is passed on")
	assert.Contains(t, out.String(), "args: -config none")
	assert.Contains(t, out.String(), "ECS_DATADIR="+l.Config.HostDataDir+"/data")

	l.Environ = []string{fakeAgentEnv + "=wait"}
	done := make(chan int, 1)
	go func() {
		code, err := l.Start(t.Context())
		assert.NoError(t, err)
		done <- code
	}()
	waitUntil(t, "the fake agent to start", func() bool { return strings.Contains(out.String(), "waiting") })
	require.NoError(t, l.Stop(t.Context()))
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("start did not return after stop")
	}
	assert.NoFileExists(t, l.pidFile())
	require.NoError(t, l.Stop(t.Context()), "stopping a stopped agent is no error")
}
