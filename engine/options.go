package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/cgroup"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// Images is what the engine needs from the image manager (engine/images):
// pulls that are tracked, and reference counts that keep an image from
// being cleaned up while a container uses it.
type Images interface {
	// Pull makes image available locally and returns it, recorded as used
	// by containerKey ("<taskID>/<containerName>"): cleanup cannot remove
	// it between the pull and the container's create.
	Pull(ctx context.Context, image, containerKey string) (rt.Image, error)
	// Use records that containerKey uses image (containers found again
	// after a restart).
	Use(image, containerKey string)
	// Release drops containerKey's use of its image.
	Release(containerKey string)
}

// HostResources is what the instance offers to tasks.
type HostResources struct {
	CPU       int // CPU shares, cores×1024; 0 = not accounted
	MemoryMiB int // 0 = not accounted
	PortsTCP  []uint16
	PortsUDP  []uint16 // reserved ports, never handed out
}

// Options configure an Engine. Runtime, Images, Store and Config are required.
type Options struct {
	Runtime       rt.Runtime
	Images        Images
	Store         statemanager.Store
	Config        *config.Config
	HostResources HostResources
	Logger        *slog.Logger
	Now           func() time.Time

	// RelistInterval is how often every task re-inspects its containers, to
	// correct whatever the event stream missed, relistConcurrency
	// inspections at a time. 0 means DefaultRelistInterval.
	RelistInterval time.Duration
	// PortFree reports whether a host port can be bound; nil tries to listen
	// on it. Tests replace it to make port choice deterministic.
	PortFree func(proto string, port uint16) bool

	// Cgroups creates the cgroups of tasks with task-level cpu or memory
	// (engine/cgroup). nil: such tasks are refused, and NoCgroups says why
	// in their stop reason.
	Cgroups   TaskCgroups
	NoCgroups string
	// MetadataFiles, when set, gives every container a metadata file
	// (ECS_ENABLE_CONTAINER_METADATA).
	MetadataFiles *MetadataFiles
}

// TaskCgroups creates and removes task cgroups (engine/cgroup's Manager).
type TaskCgroups interface {
	// Create makes the task's cgroup with its limits, or applies them
	// again, and returns the containers' Docker CgroupParent.
	Create(taskID string, l cgroup.Limits) (parent string, err error)
	// Remove deletes the task's cgroup; a missing one is not an error.
	Remove(taskID string) error
}

// DefaultRelistInterval is the default period of the correcting relist.
const DefaultRelistInterval = time.Minute

// relistConcurrency is how many of a relist's inspections run at once: the
// Docker client's idle connections (two), so that a relist dials nothing.
const relistConcurrency = 2

// Defaults that do not come from configuration.
const (
	// defaultRestartAttemptPeriod is ECS's default for restartAttemptPeriod.
	defaultRestartAttemptPeriod = 300 * time.Second
	// removeTimeout bounds one RemoveContainer at cleanup.
	removeTimeout = 5 * time.Minute
	// inspectTimeout bounds one InspectContainer.
	inspectTimeout = 30 * time.Second
	// retryDelay is the wait before a failed stop or persist is retried.
	retryDelay = 2 * time.Second
)

// ErrNotRunning is returned by AddTask when Run has not started or has ended.
var ErrNotRunning = errors.New("engine is not running")

func (o *Options) check() error {
	switch {
	case o.Runtime == nil:
		return errors.New("engine: Options.Runtime is required")
	case o.Images == nil:
		return errors.New("engine: Options.Images is required")
	case o.Store == nil:
		return errors.New("engine: Options.Store is required")
	case o.Config == nil:
		return errors.New("engine: Options.Config is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RelistInterval <= 0 {
		o.RelistInterval = DefaultRelistInterval
	}
	if o.PortFree == nil {
		o.PortFree = listenable
	}
	return nil
}

// maxConcurrentStarts is ECS_MAX_CONCURRENT_STARTS, or 4 per core.
func maxConcurrentStarts(c *config.Config) int {
	if c.MaxConcurrentStarts > 0 {
		return c.MaxConcurrentStarts
	}
	return 4 * runtime.NumCPU()
}

// stopTimeout is the container's stopTimeout, else ECS_CONTAINER_STOP_TIMEOUT.
func stopTimeout(c *container, cfg *config.Config) time.Duration {
	if c.StopTimeout > 0 {
		return time.Duration(c.StopTimeout) * time.Second
	}
	if cfg.DockerStopTimeout > 0 {
		return cfg.DockerStopTimeout
	}
	return 30 * time.Second
}

func timeoutOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// reasonf builds a stop reason "<Kind>: <message>" capped at 1024 bytes, the
// limit SubmitTaskStateChange accepts. The cut falls between characters:
// half a character would reach the backend as a replacement character.
func reasonf(kind, format string, args ...any) string {
	s := kind + ": " + fmt.Sprintf(format, args...)
	if len(s) > 1024 {
		cut := 1024
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
