package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/open-ecs/ecs-agent/agent/introspection"
	"github.com/open-ecs/ecs-agent/agent/statechange"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// taskEngine is what the agent uses of *engine.Engine: its lifetime, the
// payload handler's AddTask, the submitter's reports and introspection's
// snapshots.
type taskEngine interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	taskAdder
	statechange.Source
	Snapshot() []engine.TaskSnapshot
}

// runner is a component with a Run loop (the image manager's cleanup).
type runner interface {
	Run(ctx context.Context) error
}

// engineDeps is what building the task engine takes.
type engineDeps struct {
	Runtime       runtime.Runtime
	Store         statemanager.Store
	Config        *config.Config
	Resources     HostResources
	Logger        *slog.Logger
	Cgroups       engine.TaskCgroups // nil: task-level limits are refused, NoCgroups says why
	NoCgroups     string
	MetadataFiles *engine.MetadataFiles
}

// taskSystem is the task engine and the image manager it pulls through.
type taskSystem struct {
	Engine taskEngine
	Images runner
}

// engineResources converts the registered resources into the engine's terms.
func engineResources(r HostResources) engine.HostResources {
	return engine.HostResources{
		CPU:       int(r.CPU),
		MemoryMiB: int(r.MemoryMiB),
		PortsTCP:  r.PortsTCP,
		PortsUDP:  r.PortsUDP,
	}
}

// introspectionTasks serves /v1/tasks from the engine's current snapshot on
// each request; Snapshot returns copies, so no engine lock is held while the
// response is written.
func introspectionTasks(e taskEngine) func() []introspection.TaskResponse {
	return func() []introspection.TaskResponse { return introspection.TaskResponses(e.Snapshot()) }
}

// startTaskSystem starts the image manager and the engine under sup and
// waits until the engine has loaded and reconciled its saved tasks, so that
// no payload or report is handled against a half-loaded state.
func startTaskSystem(ctx context.Context, sup *supervisor, ts taskSystem, log *slog.Logger) error {
	if ts.Images != nil {
		sup.start("images", ts.Images.Run)
	}
	sup.startWithGrace("engine", engineShutdownGrace, ts.Engine.Run)
	log.Info("waiting for the task engine to load and reconcile its tasks")
	select {
	case <-ts.Engine.Ready():
		log.Info("task engine ready")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the task engine: %w", ctx.Err())
	case <-sup.done:
		return stateError(sup.firstErr) // the engine refuses a record it cannot read
	}
}
