package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeV2 is a directory shaped like a cgroup v2 mount: cgroup.controllers
// and an empty cgroup.subtree_control at the root.
func fakeV2(t *testing.T, controllers string) string {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(controllers+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644))
	return root
}

// fakeV1 is a directory shaped like cgroup v1 hierarchies.
func fakeV1(t *testing.T) string {
	root := t.TempDir()
	for _, ctrl := range []string{"memory", "cpu", "pids"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, ctrl), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "memory", "memory.limit_in_bytes"), []byte("9223372036854771712\n"), 0o644))
	return root
}

func read(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parts...))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

func TestV2CreateWritesLimitsAndEnablesControllers(t *testing.T) {
	root := fakeV2(t, "cpuset cpu io memory pids")
	m, err := New(root, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 2, m.Version())
	assert.Equal(t, "+cpu +memory", read(t, root, "cgroup.subtree_control"), "the root delegates cpu and memory")
	assert.Equal(t, "+cpu +memory", read(t, root, "ecs", "cgroup.subtree_control"), "/ecs delegates cpu and memory")

	parent, err := m.Create("task1", Limits{CPUShares: 512, MemoryMiB: 64})
	require.NoError(t, err)
	assert.Equal(t, "/ecs/task1", parent)
	assert.Equal(t, "67108864", read(t, root, "ecs", "task1", "memory.max"), "64 MiB")
	assert.Equal(t, "50000 100000", read(t, root, "ecs", "task1", "cpu.max"), "0.5 vCPU of a 100 ms period")
	assert.Equal(t, "20", read(t, root, "ecs", "task1", "cpu.weight"), "512 shares as a weight")

	require.NoError(t, m.Remove("task1"))
	assert.NoDirExists(t, filepath.Join(root, "ecs", "task1"))
	require.NoError(t, m.Remove("task1"), "removing a missing cgroup is not an error")
}

func TestV2OnlyTheLimitsGiven(t *testing.T) {
	root := fakeV2(t, "cpu memory")
	m, err := New(root, 50*time.Millisecond)
	require.NoError(t, err)
	_, err = m.Create("memonly", Limits{MemoryMiB: 128})
	require.NoError(t, err)
	assert.Equal(t, "134217728", read(t, root, "ecs", "memonly", "memory.max"))
	assert.NoFileExists(t, filepath.Join(root, "ecs", "memonly", "cpu.max"), "no CPU limit asked for")

	_, err = m.Create("tiny", Limits{CPUShares: 1})
	require.NoError(t, err)
	assert.Equal(t, "1000 50000", read(t, root, "ecs", "tiny", "cpu.max"), "the quota never goes below the kernel's 1 ms")
}

func TestV2KeepsControllersAlreadyOn(t *testing.T) {
	root := fakeV2(t, "cpu memory")
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("cpu memory\n"), 0o644))
	_, err := New(root, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, "cpu memory", read(t, root, "cgroup.subtree_control"), "nothing written when both are on")
}

func TestV2WithoutMemoryControllerIsRefused(t *testing.T) {
	_, err := New(fakeV2(t, "cpu pids"), 100*time.Millisecond)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "the memory controller is not available")
}

func TestV1CreateWritesLimits(t *testing.T) {
	root := fakeV1(t)
	m, err := New(root, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Version())
	parent, err := m.Create("task1", Limits{CPUShares: 2048, MemoryMiB: 64})
	require.NoError(t, err)
	assert.Equal(t, "/ecs/task1", parent)
	assert.Equal(t, "67108864", read(t, root, "memory", "ecs", "task1", "memory.limit_in_bytes"))
	assert.Equal(t, "100000", read(t, root, "cpu", "ecs", "task1", "cpu.cfs_period_us"))
	assert.Equal(t, "200000", read(t, root, "cpu", "ecs", "task1", "cpu.cfs_quota_us"), "2 vCPU")
	assert.Equal(t, "2048", read(t, root, "cpu", "ecs", "task1", "cpu.shares"))

	// Docker puts the task in the other hierarchies too, and a container
	// cgroup may still be inside when cleanup runs.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pids", "ecs", "task1", "abc123"), 0o755))
	require.NoError(t, m.Remove("task1"))
	for _, ctrl := range []string{"memory", "cpu", "pids"} {
		assert.NoDirExists(t, filepath.Join(root, ctrl, "ecs", "task1"))
		assert.DirExists(t, filepath.Join(root, ctrl, "ecs"), "only the task's cgroup is removed")
	}
}

func TestNoCgroupsAtRootIsRefused(t *testing.T) {
	_, err := New(t.TempDir(), 100*time.Millisecond)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "ECS_CGROUP_PATH")
}

func TestTaskIDMustBeOneElement(t *testing.T) {
	m, err := New(fakeV2(t, "cpu memory"), 100*time.Millisecond)
	require.NoError(t, err)
	for _, id := range []string{"", "..", "a/b"} {
		_, err := m.Create(id, Limits{MemoryMiB: 64})
		assert.Error(t, err, "id %q", id)
		assert.Error(t, m.Remove(id), "id %q", id)
	}
}
