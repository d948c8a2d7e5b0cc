package enginetest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// StartContainer starts a created or exited container and runs its
// Program.
func (f *Fake) StartContainer(ctx context.Context, id string) error {
	if err := f.enter(ctx, "StartContainer"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := f.find(id)
	if fc == nil {
		return notFound("no such container: %s", id)
	}
	if fc.c.State == runtime.StateRunning {
		return nil
	}
	// Failed starts leave the container as Docker does: created, never
	// started, with the engine's error and exit code, and no event.
	if err := f.portConflict(fc); err != nil {
		fc.c.Error, fc.c.ExitCode = err.Error(), exitCodeStartError
		return err
	}
	if fc.prog.StartFails {
		err := fmt.Errorf("failed to create shim task: OCI runtime create failed: unable to start container process: "+
			"exec: %q: stat %[1]s: no such file or directory: unknown", "/fake/program")
		fc.c.Error, fc.c.ExitCode = err.Error(), exitCodeStartFailed
		return err
	}
	fc.c.State = runtime.StateRunning
	fc.c.StartedAt = f.now()
	fc.c.FinishedAt = time.Time{}
	fc.c.ExitCode = 0
	fc.c.Error = ""
	fc.c.OOMKilled = false
	fc.exited = make(chan struct{})
	fc.c.Ports = nil
	for _, p := range fc.portSpecs {
		if p.HostPort == 0 {
			p.HostPort = f.nextPort
			f.nextPort++
		}
		if p.HostIP == "" {
			p.HostIP = "0.0.0.0"
			if f.ipv6 {
				v6 := p
				v6.HostIP = "::"
				fc.c.Ports = append(fc.c.Ports, p, v6)
				continue
			}
		}
		fc.c.Ports = append(fc.c.Ports, p)
	}
	f.emit(fc, runtime.EventStart, nil)
	switch {
	case fc.prog.OOM:
		f.oomKill(fc)
		return nil
	case fc.prog.Exits:
		f.exit(fc, fc.prog.ExitCode)
		return nil
	}
	if fc.hasHealth {
		fc.c.Health = runtime.HealthStarting
		if fc.prog.Health != "" {
			f.setHealth(fc, fc.prog.Health)
		}
	}
	return nil
}

// exit moves a running container to exited. The caller holds f.mu.
func (f *Fake) exit(fc *fakeContainer, code int) {
	fc.c.State = runtime.StateExited
	fc.c.ExitCode = code
	fc.c.FinishedAt = f.now()
	fc.c.Ports = nil // Docker reports no bindings for a stopped container
	if fc.c.Health != "" {
		// Docker marks a stopped container with a health check unhealthy
		// (without an event).
		fc.c.Health = runtime.HealthUnhealthy
	}
	close(fc.exited)
	f.emit(fc, runtime.EventDie, &code)
}

// oomKill ends a running container as the kernel's OOM killer does: an oom
// event, then die with 137, and OOMKilled set. The caller holds f.mu.
func (f *Fake) oomKill(fc *fakeContainer) {
	fc.c.OOMKilled = true
	f.emit(fc, runtime.EventOOM, nil)
	f.exit(fc, exitCodeSIGKILL)
}

func (f *Fake) setHealth(fc *fakeContainer, status string) {
	if fc.c.Health == status {
		return
	}
	fc.c.Health = status
	f.emitHealth(fc, status)
}

// StopContainer sends SIGTERM, then SIGKILL after timeout. A container that
// is not running is left as it is, as Docker does.
func (f *Fake) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if err := f.enter(ctx, "StopContainer"); err != nil {
		return err
	}
	f.mu.Lock()
	fc := f.find(id)
	if fc == nil {
		f.mu.Unlock()
		return notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		f.mu.Unlock()
		return nil
	}
	f.emit(fc, runtime.EventKill, nil)
	if !fc.prog.IgnoreTerm {
		f.exit(fc, exitCodeSIGTERM)
		f.emit(fc, runtime.EventStop, nil)
		f.mu.Unlock()
		return nil
	}
	exited := fc.exited
	f.mu.Unlock()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", id, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fc.c.State == runtime.StateRunning {
		f.emit(fc, runtime.EventKill, nil)
		f.exit(fc, exitCodeSIGKILL)
	}
	f.emit(fc, runtime.EventStop, nil)
	return nil
}

// errNotRunning is what the controls below return for a container whose
// process is not running.
var errNotRunning = errors.New("container is not running")

// running finds a running container for a control. The caller holds f.mu.
func (f *Fake) running(id string) (*fakeContainer, error) {
	fc := f.find(id)
	if fc == nil {
		return nil, notFound("no such container: %s", id)
	}
	if fc.c.State != runtime.StateRunning {
		return nil, fmt.Errorf("container %s is %s: %w", id, fc.c.State, errNotRunning)
	}
	return fc, nil
}

// Exit makes a running container exit with code, as if its process ended.
func (f *Fake) Exit(id string, code int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.running(id)
	if err != nil {
		return err
	}
	f.exit(fc, code)
	return nil
}

// OOMKill makes a running container die as the kernel's OOM killer ends
// it: an oom event, then die with 137, and OOMKilled set.
func (f *Fake) OOMKill(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.running(id)
	if err != nil {
		return err
	}
	f.oomKill(fc)
	return nil
}

// SetHealth sets a running container's health status, emitting a
// health_status event when it changes.
func (f *Fake) SetHealth(id, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc, err := f.running(id)
	if err != nil {
		return err
	}
	f.setHealth(fc, status)
	return nil
}
