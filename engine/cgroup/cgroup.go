// Package cgroup creates and removes the cgroups of tasks that have
// task-level cpu or memory (reference §7.4). Each such task gets one cgroup,
// /ecs/<task ID>, created before its first container and removed after its
// last; its containers get it as their Docker CgroupParent, so the kernel
// holds the whole task to the task's limits:
//
//	cgroup v1 (one hierarchy per controller)    cgroup v2 (one hierarchy)
//	<root>/memory/ecs/<id>/memory.limit_in_bytes  <root>/ecs/<id>/memory.max
//	<root>/cpu/ecs/<id>/cpu.cfs_quota_us, .._period_us, cpu.shares
//	                                            <root>/ecs/<id>/cpu.max, cpu.weight
//
// The version is detected from the root (ECS_CGROUP_PATH): cgroup v2 when
// it holds cgroup.controllers, v1 when it holds a memory hierarchy. The
// paths are Docker's cgroupfs driver's: with the systemd driver Docker
// wants a slice instead, which needs systemd's API; the agent checks the
// driver and refuses task-level limits there (see agent/cgroups.go).
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// parentDir is the cgroup under which every task cgroup lives.
const parentDir = "ecs"

// Kernel bounds of the CFS bandwidth settings, in microseconds.
const (
	minQuotaMicros = 1000
	minShares      = 2
	maxShares      = 262144
)

// ErrUnavailable means the root holds no usable cgroup hierarchy.
var ErrUnavailable = errors.New("task cgroups are not available")

// Limits are a task's task-level values.
type Limits struct {
	CPUShares int // vCPU×1024; 0 = no CPU limit
	MemoryMiB int // 0 = no memory limit
}

// Manager creates task cgroups under one root. It keeps no state: a task's
// cgroup is named after its ID, so the agent can remove it after a restart.
type Manager struct {
	root   string
	v2     bool
	period time.Duration
}

// New detects the cgroup version under root and checks that the agent can
// create cgroups there (it creates <root>/…/ecs). cpuPeriod is the CFS
// period (ECS_CGROUP_CPU_PERIOD).
func New(root string, cpuPeriod time.Duration) (*Manager, error) {
	if cpuPeriod < time.Millisecond || cpuPeriod > time.Second {
		return nil, fmt.Errorf("cgroup CPU period %s: must be between 1ms and 1s", cpuPeriod)
	}
	m := &Manager{root: root, period: cpuPeriod}
	switch {
	case exists(filepath.Join(root, "cgroup.controllers")):
		m.v2 = true
		if err := m.prepareV2(); err != nil {
			return nil, err
		}
	case exists(filepath.Join(root, "memory", "memory.limit_in_bytes")):
		for _, ctrl := range []string{"memory", "cpu"} {
			if !exists(filepath.Join(root, ctrl)) {
				return nil, fmt.Errorf("%w: %s has no %s hierarchy (ECS_CGROUP_PATH)", ErrUnavailable, root, ctrl)
			}
			if err := os.MkdirAll(filepath.Join(root, ctrl, parentDir), 0o755); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
	default:
		return nil, fmt.Errorf("%w: %s is neither a cgroup v2 mount (no cgroup.controllers) nor a cgroup v1 tree "+
			"(no memory/memory.limit_in_bytes); set ECS_CGROUP_PATH to where cgroups are mounted", ErrUnavailable, root)
	}
	return m, nil
}

// Version is 1 or 2.
func (m *Manager) Version() int {
	if m.v2 {
		return 2
	}
	return 1
}

// Parent is the Docker CgroupParent of a task's containers.
func (m *Manager) Parent(taskID string) string { return "/" + parentDir + "/" + taskID }

// Create makes the task's cgroup with its limits and returns the
// CgroupParent. Creating it again (after an agent restart) applies the
// limits again.
func (m *Manager) Create(taskID string, l Limits) (string, error) {
	if err := checkID(taskID); err != nil {
		return "", err
	}
	var err error
	if m.v2 {
		err = m.createV2(taskID, l)
	} else {
		err = m.createV1(taskID, l)
	}
	if err != nil {
		return "", fmt.Errorf("create cgroup %s: %w", m.Parent(taskID), err)
	}
	return m.Parent(taskID), nil
}

// Remove deletes the task's cgroup in every hierarchy. It must be called
// after the task's containers are removed (their own cgroups go with them);
// a cgroup that still holds a process cannot be removed (EBUSY), and the
// caller retries. A cgroup that is not there is not an error.
func (m *Manager) Remove(taskID string) error {
	if err := checkID(taskID); err != nil {
		return err
	}
	var dirs []string
	if m.v2 {
		dirs = []string{filepath.Join(m.root, parentDir, taskID)}
	} else {
		// Docker (runc) creates the task's cgroup in every hierarchy it
		// uses, not only cpu and memory.
		entries, err := os.ReadDir(m.root)
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", m.Parent(taskID), err)
		}
		for _, e := range entries {
			dirs = append(dirs, filepath.Join(m.root, e.Name(), parentDir, taskID))
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", m.Parent(taskID), err)
	}
	return nil
}

// removeTree removes a cgroup directory and any child cgroups left in it
// (a container cgroup whose removal raced with ours). Cgroup directories
// hold only kernel files, which rmdir removes with the directory.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if isNotEmpty(err) {
			// Not a kernel cgroup (a test root, or files someone put
			// there): empty it first.
			if rerr := os.RemoveAll(dir); rerr == nil {
				return nil
			}
		}
		return err
	}
	return nil
}

func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }

func (m *Manager) createV1(taskID string, l Limits) error {
	mem := filepath.Join(m.root, "memory", parentDir, taskID)
	cpu := filepath.Join(m.root, "cpu", parentDir, taskID)
	for _, d := range []string{mem, cpu} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if l.MemoryMiB > 0 {
		if err := write(mem, "memory.limit_in_bytes", strconv.FormatInt(int64(l.MemoryMiB)<<20, 10)); err != nil {
			return err
		}
	}
	if l.CPUShares > 0 {
		period, quota := m.cfs(l.CPUShares)
		// The period first: the kernel checks the quota against it.
		if err := write(cpu, "cpu.cfs_period_us", strconv.FormatInt(period, 10)); err != nil {
			return err
		}
		if err := write(cpu, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
		if err := write(cpu, "cpu.shares", strconv.Itoa(shares(l.CPUShares))); err != nil {
			return err
		}
	}
	return nil
}

// prepareV2 enables the cpu and memory controllers for the children of the
// root and of <root>/ecs, so that task cgroups can have limits.
func (m *Manager) prepareV2() error {
	avail, err := os.ReadFile(filepath.Join(m.root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	have := strings.Fields(string(avail))
	for _, c := range []string{"cpu", "memory"} {
		if !slices.Contains(have, c) {
			return fmt.Errorf("%w: the %s controller is not available in %s (cgroup.controllers: %q)",
				ErrUnavailable, c, m.root, strings.TrimSpace(string(avail)))
		}
	}
	parent := filepath.Join(m.root, parentDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for _, d := range []string{m.root, parent} {
		if err := enableControllers(d); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// enableControllers adds cpu and memory to dir's cgroup.subtree_control
// unless they are there already.
func enableControllers(dir string) error {
	cur, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	on := strings.Fields(string(cur))
	var add []string
	for _, c := range []string{"cpu", "memory"} {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return write(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

func (m *Manager) createV2(taskID string, l Limits) error {
	dir := filepath.Join(m.root, parentDir, taskID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if l.MemoryMiB > 0 {
		if err := write(dir, "memory.max", strconv.FormatInt(int64(l.MemoryMiB)<<20, 10)); err != nil {
			return err
		}
	}
	if l.CPUShares > 0 {
		period, quota := m.cfs(l.CPUShares)
		if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
			return err
		}
		if err := write(dir, "cpu.weight", strconv.Itoa(weight(shares(l.CPUShares)))); err != nil {
			return err
		}
	}
	return nil
}

// cfs converts CPU units (1024 per vCPU) into a CFS period and quota in
// microseconds: the task may use its vCPUs' worth of every period.
func (m *Manager) cfs(units int) (period, quota int64) {
	period = m.period.Microseconds()
	quota = int64(math.Round(float64(units) / 1024 * float64(period)))
	return period, max(quota, minQuotaMicros)
}

func shares(units int) int { return min(max(units, minShares), maxShares) }

// weight maps cgroup v1 shares [2, 262144] onto v2 weights [1, 10000], as
// runc and systemd do.
func weight(shares int) int { return 1 + (shares-minShares)*9999/(maxShares-minShares) }

func write(dir, file, value string) error {
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// checkID refuses a task ID that is not one path element.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("task ID %q cannot name a cgroup", id)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
