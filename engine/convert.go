package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
)

// Stop-reason kinds for tasks the engine refuses.
const (
	kindDependency  = "TaskDependencyError"
	kindNetworkMode = "UnsupportedNetworkMode"
	kindInvalid     = "InvalidTaskError"
	kindPull        = "CannotPullContainerError"
	kindCreate      = "CannotCreateContainerError"
	kindStart       = "CannotStartContainerError"
	kindVanished    = "ContainerVanishedError"
	kindResources   = "ResourceInitializationError"
	kindDepFailed   = "DependencyError"
)

// desiredFromWire maps an ACS desired status for routing: STOPPED stops,
// anything else is RUNNING-to-be. fromWire refuses a new task whose desired
// status is neither RUNNING nor STOPPED.
func desiredFromWire(s string) status {
	if s == StatusStopped {
		return statusStopped
	}
	return statusRunning
}

// dockerMinMemoryMiB is the smallest memory limit and reservation Docker
// 20.10 and later accept (6 MiB, 6291456 bytes: "Minimum memory limit
// allowed is 6MB"). A container asking for less is refused rather than
// raised to a limit it did not ask for.
const dockerMinMemoryMiB = 6

// maxTaskCPU bounds the task cpu (vCPU) so that its conversion to shares
// cannot overflow; it is far above any instance.
const maxTaskCPU = 1 << 20

// maxMiB is the largest size in MiB whose byte count fits Docker's int64
// (HostConfig.Memory, ShmSize). More cannot be asked of Docker: the
// conversion would wrap, and a wrapped 0 means "no limit".
const maxMiB = math.MaxInt64 >> 20

// validateTaskFields checks the task-level values every task must get
// right: a known desired status, an ARN, and cpu and memory that are not
// negative.
func validateTaskFields(wt *wire.Task) error {
	switch {
	case wt.ARN == "":
		return fmt.Errorf("the task has no arn")
	case wt.DesiredStatus != StatusRunning && wt.DesiredStatus != StatusStopped:
		return fmt.Errorf("desiredStatus %q is not RUNNING or STOPPED", wt.DesiredStatus)
	case wt.CPU < 0 || wt.CPU > maxTaskCPU:
		return fmt.Errorf("task cpu %v vCPU is not in 0-%d", wt.CPU, maxTaskCPU)
	case wt.Memory < 0:
		return fmt.Errorf("task memory %d MiB is negative", wt.Memory)
	}
	for _, c := range wt.Containers {
		switch {
		case c.CPU < 0:
			return fmt.Errorf("container %q: cpu %d is negative", c.Name, c.CPU)
		case c.Memory < 0:
			return fmt.Errorf("container %q: memory %d MiB is negative", c.Name, c.Memory)
		case c.Memory > 0 && c.Memory < dockerMinMemoryMiB:
			return fmt.Errorf("container %q: memory %d MiB is below Docker's minimum of %d MiB; give at least %d",
				c.Name, c.Memory, dockerMinMemoryMiB, dockerMinMemoryMiB)
		case c.Memory > maxMiB:
			return fmt.Errorf("container %q: memory %d MiB is more than Docker can take (at most %d MiB)", c.Name, c.Memory, maxMiB)
		}
		if lp := c.LinuxParameters; lp != nil && lp.SharedMemorySize != nil {
			if n := *lp.SharedMemorySize; n < 0 || n > maxMiB {
				return fmt.Errorf("container %q: linuxParameters.sharedMemorySize %d MiB is not in 0-%d", c.Name, n, maxMiB)
			}
		}
	}
	return nil
}

// fromWire converts an ACS task into the engine model. A task the engine
// cannot run is still returned, with the reason it must stop; the caller
// stores it as STOPPED so that the backend learns why.
func fromWire(wt *wire.Task, cfg *config.Config) (*task, string) {
	t := &task{
		ARN:           wt.ARN,
		ID:            taskID(wt.ARN),
		Family:        wt.Family,
		Version:       wt.Version,
		ClusterARN:    wt.TaskClusterARN,
		NetworkMode:   strings.ToLower(wt.NetworkMode),
		PIDMode:       strings.ToLower(wt.PIDMode),
		IPCMode:       strings.ToLower(wt.IPCMode),
		CPU:           int(math.Round(wt.CPU * 1024)),
		MemoryMiB:     wt.Memory,
		DesiredStatus: desiredFromWire(wt.DesiredStatus),
		ServiceName:   wt.ServiceName,
		Group:         wt.Group,
		LaunchType:    wt.LaunchType,
	}
	if rc := wt.RoleCredentials; rc != nil {
		t.RoleARN, t.CredentialsID = rc.RoleARN, rc.CredentialsID
	}
	if ec := wt.ExecutionRoleCredentials; ec != nil {
		t.ExecutionRoleARN, t.ExecutionCredentialsID = ec.RoleARN, ec.CredentialsID
	}
	if t.NetworkMode == "" {
		t.NetworkMode = networkBridge
	}
	reason := ""
	fail := func(r string) {
		if reason == "" {
			reason = r
		}
	}
	// What the task uses that this agent does not do comes first: it is
	// what the user must change.
	if r := unsupportedMembers(wt); r != "" {
		fail(reasonf(kindInvalid, "%s", r))
	}
	if err := validateTaskFields(wt); err != nil {
		fail(reasonf(kindInvalid, "%v", err))
	}
	for _, wv := range wt.Volumes {
		v, err := volumeFromWire(t, wv)
		if err != nil {
			fail(reasonf(kindInvalid, "%v", err))
			continue
		}
		t.Volumes = append(t.Volumes, v)
	}
	for i := range wt.Containers {
		c, err := containerFromWire(&wt.Containers[i])
		if err != nil {
			fail(reasonf(kindInvalid, "%v", err))
		}
		t.Containers = append(t.Containers, c)
		t.ContainerNames = append(t.ContainerNames, c.Name)
	}
	switch t.NetworkMode {
	case networkBridge, networkHost, networkNone:
	default:
		fail(reasonf(kindNetworkMode, "network mode %q is not supported by this agent; use bridge, host or none", wt.NetworkMode))
	}
	if err := validateNamespaceModes(t); err != nil {
		fail(reasonf(kindInvalid, "%v", err))
	}
	if err := checkRoles(wt, t.NetworkMode, cfg); err != nil {
		fail(reasonf(kindInvalid, "%v", err))
	}
	if len(t.Containers) == 0 {
		fail(reasonf(kindInvalid, "the task has no containers"))
	}
	if err := validateDependencies(t); err != nil {
		fail(reasonf(kindDependency, "%v", err))
	}
	if err := validateContainers(t, cfg); err != nil {
		fail(reasonf(kindInvalid, "%v", err))
	}
	return t, reason
}

// checkRoles refuses a task role this instance does not serve, and role
// credentials that cannot be served because they have no ID. Amazon ECS
// sends a task role only to an instance that advertises task-iam-role (and
// task-iam-role-network-host for host mode); without them the containers
// would quietly fall back to the instance's own credentials.
func checkRoles(wt *wire.Task, networkMode string, cfg *config.Config) error {
	if rc := wt.RoleCredentials; rc != nil {
		switch {
		case rc.CredentialsID == "":
			return fmt.Errorf("roleCredentials for %q has no credentialsId: the backend sent the task role without its credentials", rc.RoleARN)
		case !cfg.TaskIAMRoleEnabled:
			return fmt.Errorf("the task has a task IAM role, which this instance does not serve; set ECS_ENABLE_TASK_IAM_ROLE=true")
		case networkMode == networkHost && !cfg.TaskIAMRoleEnabledForNetworkHost:
			return fmt.Errorf("the task has a task IAM role in network mode host, which this instance does not serve; set ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true")
		}
	}
	if ec := wt.ExecutionRoleCredentials; ec != nil && ec.CredentialsID == "" {
		return fmt.Errorf("executionRoleCredentials for %q has no credentialsId: the backend sent the execution role without its credentials", ec.RoleARN)
	}
	return nil
}

// validateNamespaceModes accepts the pidMode and ipcMode values this agent
// can honour: unset (each container private) and host. ipcMode none is
// Docker's own. Sharing one namespace among the task's containers ("task")
// needs a namespace-holder container that this agent does not run yet.
func validateNamespaceModes(t *task) error {
	for _, m := range []struct{ field, value string }{{"pidMode", t.PIDMode}, {"ipcMode", t.IPCMode}} {
		switch m.value {
		case "", "host":
		case "none":
			if m.field == "ipcMode" {
				continue
			}
			return fmt.Errorf("%s %q is not valid; use host or leave it unset", m.field, m.value)
		case "task":
			return fmt.Errorf("%s \"task\" is not supported by this agent yet; use host or leave it unset", m.field)
		default:
			return fmt.Errorf("%s %q is not valid; use host or leave it unset", m.field, m.value)
		}
	}
	return nil
}

func volumeFromWire(t *task, wv wire.Volume) (*volume, error) {
	v := &volume{Name: wv.Name}
	switch {
	case wv.Name == "":
		return nil, fmt.Errorf("a volume has no name")
	case wv.DockerVolumeConfiguration != nil || wv.Type == wire.VolumeTypeDocker:
		dc := wv.DockerVolumeConfiguration
		if dc == nil {
			dc = &wire.DockerVolumeConfiguration{}
		}
		v.Kind = volumeDocker
		v.Driver, v.DriverOpts, v.Labels = dc.Driver, dc.DriverOpts, dc.Labels
		v.Autoprovision = dc.Autoprovision
		if dc.Scope == wire.ScopeShared {
			v.Shared = true
			v.DockerName = wv.Name
		} else {
			v.DockerName = dockerName(t, wv.Name)
		}
	case wv.Type == "" || wv.Type == wire.VolumeTypeHost:
		if wv.Host != nil && wv.Host.SourcePath != "" {
			v.Kind = volumeHost
			v.SourcePath = wv.Host.SourcePath
		} else {
			v.Kind = volumeLocal
			v.DockerName = dockerName(t, wv.Name)
		}
	default:
		return nil, fmt.Errorf("volume %q has type %q, which this agent does not support; use host or docker", wv.Name, wv.Type)
	}
	return v, nil
}

func containerFromWire(wc *wire.Container) (*container, error) {
	c := &container{
		Name:            wc.Name,
		Image:           wc.Image,
		Command:         wc.Command,
		EntryPoint:      wc.EntryPoint,
		Environment:     wc.Environment,
		Essential:       wc.Essential,
		CPU:             wc.CPU,
		Memory:          wc.Memory,
		Links:           wc.Links,
		MountPoints:     wc.MountPoints,
		VolumesFrom:     wc.VolumesFrom,
		Privileged:      wc.Privileged != nil && *wc.Privileged,
		HealthCheckType: string(wc.HealthCheckType),
		StartTimeout:    wc.StartTimeout,
		StopTimeout:     wc.StopTimeout,
		RestartPolicy:   wc.RestartPolicy,
		LinuxParameters: wc.LinuxParameters,
		DesiredStatus:   statusRunning,
		EndpointID:      uuid.NewString(),
	}
	if wc.DockerConfig != nil {
		c.DockerConfig = *wc.DockerConfig
	}
	for _, pm := range wc.PortMappings {
		p := portMapping{ContainerPort: pm.ContainerPort, ContainerPortRange: pm.ContainerPortRange,
			HostPort: pm.HostPort, Protocol: strings.ToLower(string(pm.Protocol))}
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		c.PortMappings = append(c.PortMappings, p)
	}
	for _, d := range wc.DependsOn {
		c.DependsOn = append(c.DependsOn, dependency{Name: d.ContainerName, Condition: string(d.Condition)})
	}
	// Implicit dependencies: a link needs its target started, volumesFrom
	// needs its source created.
	for _, l := range wc.Links {
		name, _, _ := strings.Cut(l, ":")
		addDependency(c, name, condStart)
	}
	for _, vf := range wc.VolumesFrom {
		addDependency(c, vf.SourceContainer, condCreate)
	}
	if wc.Overrides != "" {
		var ov struct {
			Command []string `json:"command"`
		}
		if err := json.Unmarshal([]byte(wc.Overrides), &ov); err != nil {
			return c, fmt.Errorf("container %q: overrides is not valid JSON: %w", wc.Name, err)
		}
		if ov.Command != nil {
			c.Command = ov.Command
		}
	}
	if c.Name == "" {
		return c, fmt.Errorf("a container has no name")
	}
	if c.Image == "" {
		return c, fmt.Errorf("container %q has no image", c.Name)
	}
	return c, nil
}

// addDependency adds an implicit dependency unless an explicit one exists.
func addDependency(c *container, name, cond string) {
	for _, d := range c.DependsOn {
		if d.Name == name {
			return
		}
	}
	c.DependsOn = append(c.DependsOn, dependency{Name: name, Condition: cond})
}

// validateDependencies checks that every dependency names a container of the
// task, uses a known condition, and that there is no cycle.
func validateDependencies(t *task) error {
	names := map[string]bool{}
	for _, c := range t.Containers {
		if names[c.Name] {
			return fmt.Errorf("two containers are named %q; container names must be unique", c.Name)
		}
		names[c.Name] = true
	}
	for _, c := range t.Containers {
		for _, d := range c.DependsOn {
			if !names[d.Name] {
				return fmt.Errorf("container %q depends on %q, which is not a container of this task", c.Name, d.Name)
			}
			if d.Name == c.Name {
				return fmt.Errorf("container %q depends on itself", c.Name)
			}
			switch d.Condition {
			case condCreate, condStart, condComplete, condSuccess:
			case condHealthy:
				if dc := t.container(d.Name); dc.HealthCheckType != string(wire.HealthCheckTypeDocker) {
					return fmt.Errorf("container %q waits for %q to be HEALTHY, but %q has no health check", c.Name, d.Name, d.Name)
				}
			default:
				return fmt.Errorf("container %q: dependency condition %q is unknown; use START, COMPLETE, SUCCESS or HEALTHY", c.Name, d.Condition)
			}
		}
	}
	// Depth-first search for a cycle: 1 = on the stack, 2 = done.
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		for _, d := range t.container(name).DependsOn {
			if err := visit(d.Name, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for _, c := range t.Containers {
		if err := visit(c.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// validateContainers checks what would make a create fail for certain:
// ports, mounts, memory below Docker's floor, and the dockerConfig overlays
// against the agent's policy.
func validateContainers(t *task, cfg *config.Config) error {
	static := map[string]string{}
	for _, c := range t.Containers {
		if err := validatePortMappings(t.NetworkMode, c); err != nil {
			return err
		}
		for _, pm := range c.PortMappings {
			if hp := staticHostPort(t.NetworkMode, pm); hp != 0 {
				k := fmt.Sprintf("%d/%s", hp, pm.Protocol)
				if other, ok := static[k]; ok {
					if other == c.Name {
						return fmt.Errorf("container %q maps host port %s twice", c.Name, k)
					}
					return fmt.Errorf("containers %q and %q both map host port %s", other, c.Name, k)
				}
				static[k] = c.Name
			}
		}
		for _, mp := range c.MountPoints {
			if t.volume(mp.SourceVolume) == nil {
				return fmt.Errorf("container %q mounts volume %q, which the task does not define", c.Name, mp.SourceVolume)
			}
			if mp.ContainerPath == "" {
				return fmt.Errorf("container %q mounts volume %q without a containerPath", c.Name, mp.SourceVolume)
			}
		}
		ov, err := parseOverlays(c)
		if err != nil {
			return err
		}
		if err := ov.checkMemoryFloor(c.Name); err != nil {
			return err
		}
		if cfg.PrivilegedDisabled && (c.Privileged || ov.privileged()) {
			return fmt.Errorf("container %q is privileged, but privileged containers are disabled on this instance (ECS_DISABLE_PRIVILEGED=true)", c.Name)
		}
		if d := ov.logDriver(); d != "" && !slices.Contains(cfg.AvailableLoggingDrivers, d) {
			return fmt.Errorf("container %q uses log driver %q, which is not in ECS_AVAILABLE_LOGGING_DRIVERS %v", c.Name, d, cfg.AvailableLoggingDrivers)
		}
		if c.HealthCheckType == string(wire.HealthCheckTypeDocker) && !ov.hasHealthcheck() {
			return fmt.Errorf("container %q has healthCheckType docker but dockerConfig.config has no Healthcheck", c.Name)
		}
	}
	return nil
}

// parseRange parses "a-b" with 1 <= a <= b <= 65535.
func parseRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q is not a port range \"start-end\" with 1 <= start <= end <= 65535", s)
	}
	return lo, hi, nil
}

// dockerName is "ecs-<family>-<version>-<name>-<20 hex>", unique per create.
// Every part is reduced to what Docker accepts in a name: ECS restricts
// family and version too, but a payload from another backend may not.
func dockerName(t *task, name string) string {
	return fmt.Sprintf("ecs-%s-%s-%s-%s", sanitize(t.Family), sanitize(t.Version), sanitize(name), randHex())
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, s)
}

func randHex() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
