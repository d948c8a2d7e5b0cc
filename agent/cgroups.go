package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/cgroup"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// cgroupInfoer tells how the container engine places containers in
// cgroups (dockerapi.Client).
type cgroupInfoer interface {
	CgroupInfo(ctx context.Context) (dockerapi.CgroupInfo, error)
}

// taskCgroups sets up task cgroups (ECS_ENABLE_TASK_CPU_MEM_LIMIT): the
// manager, or nil and the reason task-level limits cannot be enforced,
// which the engine puts in the stop reason of tasks that have them and
// which keeps task-cpu-mem-limit from being advertised.
func taskCgroups(ctx context.Context, cfg *config.Config, docker DockerClient, log *slog.Logger) (engine.TaskCgroups, string) {
	if !cfg.TaskCPUMemLimit {
		return nil, "ECS_ENABLE_TASK_CPU_MEM_LIMIT=false"
	}
	why := func(reason string) (engine.TaskCgroups, string) {
		log.Warn("task-level cpu and memory limits are off: tasks that have them will be refused", logging.KeyReason, reason)
		return nil, reason
	}
	ci, ok := docker.(cgroupInfoer)
	if !ok {
		return why("the container engine does not say which cgroup driver it uses")
	}
	cctx, cancel := context.WithTimeout(ctx, dockerCallTimeout)
	info, err := ci.CgroupInfo(cctx)
	cancel()
	if err != nil {
		return why(fmt.Sprintf("docker info: %v", err))
	}
	if info.Driver != "cgroupfs" {
		// The systemd driver wants a slice as CgroupParent, which only
		// systemd's own API can give limits to.
		return why(fmt.Sprintf("Docker uses the %q cgroup driver; task cgroups need cgroupfs "+
			"(dockerd --exec-opt native.cgroupdriver=cgroupfs)", info.Driver))
	}
	m, err := cgroup.New(cfg.CgroupPath, cfg.CgroupCPUPeriod)
	if err != nil {
		return why(err.Error())
	}
	log.Info("task cgroups are on", logging.KeyPath, cfg.CgroupPath, logging.KeyVersion, m.Version())
	return m, ""
}
