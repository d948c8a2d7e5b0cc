package ecsinit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Docker is what the launcher needs from the Docker engine; package
// ecsinit/dockerengine implements it.
type Docker interface {
	// ImageID returns the ID of the local image ref, or "" when there is none.
	ImageID(ctx context.Context, ref string) (string, error)
	LoadImage(ctx context.Context, archive io.Reader) error
	PullImage(ctx context.Context, ref string) error
	// RemoveContainer force-removes a container; a missing one is no error.
	RemoveContainer(ctx context.Context, name string) error
	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// WaitContainer returns the exit code once the container has stopped.
	WaitContainer(ctx context.Context, id string) (int, error)
	// StopContainer sends SIGTERM and kills after timeout; a missing or
	// stopped container is no error.
	StopContainer(ctx context.Context, name string, timeout time.Duration) error
	// CopyLogs follows the container's output until it stops or ctx ends.
	CopyLogs(ctx context.Context, id string, stdout, stderr io.Writer) error
}

// Launcher runs and stops the agent.
type Launcher struct {
	Config *Config
	Docker Docker // container mode
	Logger *slog.Logger
	// Stdout and Stderr receive the agent's output (os.Stdout/os.Stderr
	// when nil), so the agent's log is in the journal of the ecs unit.
	Stdout, Stderr io.Writer
	// Environ is ecs-init's environment, the base of the agent's in binary mode.
	Environ []string
}

func (l *Launcher) log() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

func (l *Launcher) outputs() (io.Writer, io.Writer) {
	out, errw := l.Stdout, l.Stderr
	if out == nil {
		out = os.Stdout
	}
	if errw == nil {
		errw = os.Stderr
	}
	return out, errw
}

// hostDirs are created before the agent starts, private to root: the
// agent's state and log may hold task details.
func (l *Launcher) hostDirs() error {
	cfg := l.Config
	for _, d := range []string{cfg.LogDir, filepath.Join(cfg.HostDataDir, "data"), cfg.CacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}

// Start runs the agent in the foreground until it exits, and returns its
// exit code. When ctx ends (SIGTERM to ecs-init) the agent is stopped
// within StopTimeout and its exit code is returned all the same.
func (l *Launcher) Start(ctx context.Context) (int, error) {
	if err := l.hostDirs(); err != nil {
		return 0, err
	}
	if l.Config.Mode == ModeBinary {
		return l.startBinary(ctx)
	}
	return l.startContainer(ctx)
}

func (l *Launcher) startContainer(ctx context.Context) (int, error) {
	cfg := l.Config
	if err := l.ensureImage(ctx, false); err != nil {
		return 0, err
	}
	// An old agent container (from a crash or an earlier boot) would hold
	// the name; its logs were kept until now for `docker logs`.
	if err := l.Docker.RemoveContainer(ctx, cfg.ContainerName); err != nil {
		return 0, fmt.Errorf("remove the old agent container %s: %w", cfg.ContainerName, err)
	}
	spec := AgentContainer(cfg)
	id, err := l.Docker.CreateContainer(ctx, spec)
	if err != nil {
		return 0, fmt.Errorf("create the agent container %s from %s: %w", cfg.ContainerName, cfg.Image, err)
	}
	if err := l.Docker.StartContainer(ctx, id); err != nil {
		return 0, fmt.Errorf("start the agent container %s: %w", cfg.ContainerName, err)
	}
	l.log().Info("agent container started", logging.KeyContainer, cfg.ContainerName, logging.KeyImage, cfg.Image,
		logging.KeyDockerID, shortID(id))

	// The logs and the wait outlive ctx: after a stop request they run
	// until the agent has exited.
	bg := context.WithoutCancel(ctx)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		out, errw := l.outputs()
		if err := l.Docker.CopyLogs(bg, id, out, errw); err != nil {
			l.log().Warn("following the agent's output", logging.KeyError, err)
		}
	}()
	type result struct {
		code int
		err  error
	}
	waited := make(chan result, 1)
	go func() {
		code, err := l.Docker.WaitContainer(bg, id)
		waited <- result{code, err}
	}()

	var r result
	select {
	case r = <-waited:
	case <-ctx.Done():
		l.log().Info("stopping the agent container", logging.KeyContainer, cfg.ContainerName)
		sctx, cancel := context.WithTimeout(bg, StopTimeout+10*time.Second)
		err := l.Docker.StopContainer(sctx, id, StopTimeout)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("stop the agent container: %w", err)
		}
		r = <-waited
	}
	<-logsDone
	if r.err != nil {
		return 0, fmt.Errorf("wait for the agent container: %w", r.err)
	}
	l.log().Info("agent exited", logging.KeyExitCode, r.code)
	return r.code, nil
}

// Stop stops the running agent within StopTimeout. Its tasks keep running:
// the agent never stops containers when it exits.
func (l *Launcher) Stop(ctx context.Context) error {
	if l.Config.Mode == ModeBinary {
		return l.stopBinary(ctx)
	}
	if err := l.Docker.StopContainer(ctx, l.Config.ContainerName, StopTimeout); err != nil {
		return fmt.Errorf("stop the agent container %s: %w", l.Config.ContainerName, err)
	}
	return nil
}

// ReloadCache loads the cached image tarball into Docker, even when the
// local image looks the same.
func (l *Launcher) ReloadCache(ctx context.Context) error {
	if l.Config.Mode == ModeBinary {
		return errors.New("reload-cache: ECS_INIT_AGENT_MODE=binary runs no image")
	}
	return l.ensureImage(ctx, true)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
