package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// cgroupDocker is a Docker client that reports its cgroup driver.
type cgroupDocker struct {
	fakeDocker
	info dockerapi.CgroupInfo
	err  error
}

func (d *cgroupDocker) CgroupInfo(context.Context) (dockerapi.CgroupInfo, error) {
	return d.info, d.err
}

// fakeCgroupV2 is a directory shaped like a cgroup v2 mount.
func fakeCgroupV2(t *testing.T) string {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644))
	return root
}

// Task cgroups are used only when they can work; otherwise the reason is
// what the engine puts in a refused task's stop reason.
func TestTaskCgroupsOnlyWhenTheyWork(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	cfg.CgroupPath = fakeCgroupV2(t)

	m, why := taskCgroups(t.Context(), cfg, &cgroupDocker{info: dockerapi.CgroupInfo{Driver: "cgroupfs", Version: "2"}}, log)
	assert.NotNil(t, m)
	assert.Empty(t, why)

	for name, tc := range map[string]struct {
		edit   func(*config.Config)
		docker DockerClient
		want   string
	}{
		"turned off": {edit: func(c *config.Config) { c.TaskCPUMemLimit = false },
			docker: &cgroupDocker{info: dockerapi.CgroupInfo{Driver: "cgroupfs"}}, want: "ECS_ENABLE_TASK_CPU_MEM_LIMIT=false"},
		"systemd driver": {docker: &cgroupDocker{info: dockerapi.CgroupInfo{Driver: "systemd", Version: "2"}},
			want: `Docker uses the "systemd" cgroup driver; task cgroups need cgroupfs (dockerd --exec-opt native.cgroupdriver=cgroupfs)`},
		"docker info fails": {docker: &cgroupDocker{err: errors.New("connection refused")}, want: "docker info: connection refused"},
		"no driver info":    {docker: &fakeDocker{}, want: "the container engine does not say which cgroup driver it uses"},
		"no cgroup fs": {edit: func(c *config.Config) { c.CgroupPath = t.TempDir() },
			docker: &cgroupDocker{info: dockerapi.CgroupInfo{Driver: "cgroupfs"}}, want: "ECS_CGROUP_PATH"},
	} {
		c := *cfg
		if tc.edit != nil {
			tc.edit(&c)
		}
		m, why := taskCgroups(t.Context(), &c, tc.docker, log)
		assert.Nil(t, m, name)
		assert.Contains(t, why, tc.want, name)
	}
}
