package ecsinit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// pidFile is where binary mode records the agent's process ID for stop.
func (l *Launcher) pidFile() string { return filepath.Join(l.Config.RunDir, "ecs-agent.pid") }

// startBinary runs the ecs-agent binary as a child process and forwards a
// stop request to it as SIGTERM.
func (l *Launcher) startBinary(ctx context.Context) (int, error) {
	cfg := l.Config
	cmd := exec.Command(cfg.AgentBinary, agentArgs...)
	cmd.Env = BinaryEnv(cfg, l.Environ)
	cmd.Stdout, cmd.Stderr = l.outputs()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the agent (ECS_INIT_AGENT_BINARY=%s): %w", cfg.AgentBinary, err)
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("create %s: %w", cfg.RunDir, err)
	}
	if err := os.WriteFile(l.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("write %s: %w", l.pidFile(), err)
	}
	defer os.Remove(l.pidFile())
	l.log().Info("agent started", logging.KeyFile, cfg.AgentBinary, logging.KeyPID, cmd.Process.Pid)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(StopTimeout):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		l.log().Info("agent exited", logging.KeyExitCode, exit.ExitCode())
		return exit.ExitCode(), nil
	default:
		return 0, fmt.Errorf("wait for the agent: %w", err)
	}
}

// stopBinary sends SIGTERM to the agent named in the pid file and waits
// for it to exit, killing it after StopTimeout.
func (l *Launcher) stopBinary(ctx context.Context) error {
	data, err := os.ReadFile(l.pidFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not running
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid < 1 {
		return fmt.Errorf("%s: not a process ID", l.pidFile())
	}
	// The pid file may be stale and the number reused: signal only the agent.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || !sameFile(exe, l.Config.AgentBinary) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	deadline := time.NewTimer(StopTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("the agent (pid %d) did not stop within %s; killed", pid, StopTimeout)
		case <-tick.C:
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
