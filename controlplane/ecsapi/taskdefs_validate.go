package ecsapi

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// RegisterTaskDefinition validation. ECS answers content errors in a
// container definition (missing image, memory, unknown references) with a
// ClientException and malformed values with an InvalidParameterException;
// both kinds here name the container and the member, and say what to do.

const (
	maxContainers          = 10
	minContainerMemoryMiB  = 6
	maxStopTimeoutSeconds  = 120
	minRestartAttemptSecs  = 60
	maxRestartAttemptSecs  = 1800
	maxIgnoredExitCodes    = 50
	maxPlacementConstraint = 10
	maxPortRanges          = 100
)

var (
	logDrivers  = []string{"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens"}
	ulimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
		"nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
	conditions = []string{store.ConditionStart, store.ConditionComplete, store.ConditionSuccess, store.ConditionHealthy}
)

// containerErr is a ClientException about one container, phrased as ECS
// phrases its own: "Invalid setting for container '<name>'. ...".
func containerErr(name, format string, args ...any) *Error {
	return clientErr(CodeClientException, "Invalid setting for container '%s'. %s", name, fmt.Sprintf(format, args...))
}

// taskDefValidator carries what the per-container checks need to know about
// the whole task definition.
type taskDefValidator struct {
	td        store.TaskDefinition
	mode      string // networkMode with the default (bridge) applied
	byName    map[string]store.ContainerDefinition
	volumes   map[string]bool
	taskMemMB int
	taskCPU   int
}

// validateTaskDefinition checks a task definition as RegisterTaskDefinition
// receives it.
func validateTaskDefinition(td store.TaskDefinition) error {
	v := &taskDefValidator{td: td, byName: map[string]store.ContainerDefinition{}, volumes: map[string]bool{}}
	for _, check := range []func() error{v.taskLevel, v.volumeList, v.containerNames} {
		if err := check(); err != nil {
			return err
		}
	}
	essential := false
	for _, c := range td.ContainerDefinitions {
		if err := v.container(c); err != nil {
			return err
		}
		essential = essential || c.IsEssential()
	}
	if !essential {
		return clientErr(CodeClientException, "containerDefinitions: at least one container must be essential; set essential to true (the default) on one of them.")
	}
	if err := v.dependencyCycle(); err != nil {
		return err
	}
	return v.taskTotals()
}

func (v *taskDefValidator) taskLevel() error {
	td := v.td
	if td.Family == "" {
		return invalidParam("family can not be blank.")
	}
	if !familyRE.MatchString(td.Family) {
		return invalidParam("family %q is invalid: use 1-255 letters, numbers, hyphens and underscores.", td.Family)
	}
	switch td.NetworkMode {
	case "", store.NetworkModeBridge:
		v.mode = store.NetworkModeBridge
	case store.NetworkModeHost, store.NetworkModeNone:
		v.mode = td.NetworkMode
	case store.NetworkModeAWSVPC:
		return invalidParam("networkMode awsvpc is not supported by this control plane; use bridge, host or none.")
	default:
		return invalidParam("networkMode %q is invalid; use bridge, host or none.", td.NetworkMode)
	}
	if td.PIDMode != "" && td.PIDMode != "host" && td.PIDMode != "task" {
		return invalidParam("pidMode %q is invalid; use host or task.", td.PIDMode)
	}
	if td.IPCMode != "" && !slices.Contains([]string{"host", "task", "none"}, td.IPCMode) {
		return invalidParam("ipcMode %q is invalid; use host, task or none.", td.IPCMode)
	}
	for _, c := range td.RequiresCompatibilities {
		switch c {
		case "EC2", "EXTERNAL":
		case "FARGATE":
			return invalidParam("requiresCompatibilities FARGATE is not supported by this control plane; use EC2 or EXTERNAL.")
		default:
			return invalidParam("requiresCompatibilities %q is invalid; use EC2 or EXTERNAL.", c)
		}
	}
	if rp := td.RuntimePlatform; rp != nil {
		if rp.OperatingSystemFamily != "" && rp.OperatingSystemFamily != "LINUX" {
			return invalidParam("runtimePlatform.operatingSystemFamily %q is not supported by this control plane; use LINUX.", rp.OperatingSystemFamily)
		}
		if rp.CPUArchitecture != "" && rp.CPUArchitecture != "X86_64" && rp.CPUArchitecture != "ARM64" {
			return invalidParam("runtimePlatform.cpuArchitecture %q is invalid; use X86_64 or ARM64.", rp.CPUArchitecture)
		}
	}
	if len(td.PlacementConstraints) > maxPlacementConstraint {
		return invalidParam("placementConstraints can have at most %d items.", maxPlacementConstraint)
	}
	for _, pc := range td.PlacementConstraints {
		if pc.Type != "memberOf" || pc.Expression == "" {
			return invalidParam("placementConstraints: each needs type memberOf and an expression.")
		}
	}
	var err error
	if v.taskCPU, err = payload.ParseCPU(td.CPU); err != nil {
		return invalidParam("cpu %q is invalid: give CPU units (\"1024\") or vCPUs (\"1 vCPU\").", td.CPU)
	}
	if v.taskMemMB, err = payload.ParseMemory(td.Memory); err != nil {
		return invalidParam("memory %q is invalid: give MiB (\"512\") or GB (\"0.5 GB\").", td.Memory)
	}
	if n := len(td.ContainerDefinitions); n == 0 || n > maxContainers {
		return clientErr(CodeClientException, "containerDefinitions must have 1 to %d containers, not %d.", maxContainers, n)
	}
	return nil
}

func (v *taskDefValidator) volumeList() error {
	for i, vol := range v.td.Volumes {
		if !familyRE.MatchString(vol.Name) {
			return invalidParam("volumes[%d].name %q is invalid: use 1-255 letters, numbers, hyphens and underscores.", i, vol.Name)
		}
		if v.volumes[vol.Name] {
			return invalidParam("volumes: the name %q is used twice; volume names must be unique.", vol.Name)
		}
		v.volumes[vol.Name] = true
		if err := volumeFeatures(vol); err != nil {
			return err
		}
		dvc := vol.DockerVolumeConfiguration
		if dvc == nil {
			continue
		}
		switch dvc.Scope {
		case "", "task", "shared":
		default:
			return invalidParam("volume '%s': dockerVolumeConfiguration.scope %q is invalid; use task or shared.", vol.Name, dvc.Scope)
		}
		if dvc.Autoprovision != nil && *dvc.Autoprovision && dvc.Scope != "shared" {
			return invalidParam("volume '%s': dockerVolumeConfiguration.autoprovision applies only to scope shared.", vol.Name)
		}
	}
	return nil
}

func (v *taskDefValidator) containerNames() error {
	for i, c := range v.td.ContainerDefinitions {
		if !familyRE.MatchString(c.Name) {
			return clientErr(CodeClientException, "containerDefinitions[%d].name %q is invalid: use 1-255 letters, numbers, hyphens and underscores.", i, c.Name)
		}
		if _, dup := v.byName[c.Name]; dup {
			return clientErr(CodeClientException, "containerDefinitions: the name %q is used twice; container names must be unique.", c.Name)
		}
		v.byName[c.Name] = c
	}
	return nil
}

func (v *taskDefValidator) container(c store.ContainerDefinition) error {
	if strings.TrimSpace(c.Image) == "" {
		return containerErr(c.Name, "image is required.")
	}
	for _, check := range []func(store.ContainerDefinition) error{
		v.memory, v.references, v.ports, v.mounts, v.logAndLimits, v.timeouts, v.healthCheck, v.linux, v.misc, v.gatedFeatures,
	} {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func (v *taskDefValidator) memory(c store.ContainerDefinition) error {
	if c.CPU < 0 {
		return containerErr(c.Name, "cpu must not be negative.")
	}
	if c.Memory == nil && c.MemoryReservation == nil && v.taskMemMB == 0 {
		return containerErr(c.Name, "Set memory or memoryReservation on the container, or memory on the task; at least one is required.")
	}
	if c.Memory != nil && *c.Memory < minContainerMemoryMiB {
		return containerErr(c.Name, "memory must be at least %d MiB.", minContainerMemoryMiB)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation < minContainerMemoryMiB {
		return containerErr(c.Name, "memoryReservation must be at least %d MiB.", minContainerMemoryMiB)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
		return containerErr(c.Name, "memoryReservation (%d MiB) must not be greater than memory (%d MiB).", *c.MemoryReservation, *c.Memory)
	}
	if v.taskMemMB > 0 && c.Memory != nil && *c.Memory > v.taskMemMB {
		return containerErr(c.Name, "memory (%d MiB) must not be greater than the task memory (%d MiB).", *c.Memory, v.taskMemMB)
	}
	return nil
}

// references checks links, volumesFrom and dependsOn against the other
// containers of the task.
func (v *taskDefValidator) references(c store.ContainerDefinition) error {
	if len(c.Links) > 0 && v.mode != store.NetworkModeBridge {
		return containerErr(c.Name, "links are supported only in bridge network mode, not %s.", v.mode)
	}
	for _, l := range c.Links {
		target, alias, _ := strings.Cut(l, ":")
		if err := v.refersTo(c.Name, "links", target); err != nil {
			return err
		}
		if strings.Contains(l, ":") && !familyRE.MatchString(alias) {
			return containerErr(c.Name, "links: %q has an invalid alias; use name:alias with letters, numbers, hyphens and underscores.", l)
		}
	}
	for _, vf := range c.VolumesFrom {
		if err := v.refersTo(c.Name, "volumesFrom.sourceContainer", vf.SourceContainer); err != nil {
			return err
		}
	}
	for _, d := range c.DependsOn {
		if err := v.refersTo(c.Name, "dependsOn.containerName", d.ContainerName); err != nil {
			return err
		}
		if !slices.Contains(conditions, d.Condition) {
			return containerErr(c.Name, "dependsOn condition %q is invalid; use START, COMPLETE, SUCCESS or HEALTHY.", d.Condition)
		}
		if d.Condition == store.ConditionHealthy && v.byName[d.ContainerName].HealthCheck == nil {
			return containerErr(c.Name, "dependsOn '%s' with condition HEALTHY needs a healthCheck on container '%s'.", d.ContainerName, d.ContainerName)
		}
	}
	return nil
}

func (v *taskDefValidator) refersTo(from, field, target string) error {
	if target == from {
		return containerErr(from, "%s must name another container, not itself.", field)
	}
	if _, ok := v.byName[target]; !ok {
		return containerErr(from, "%s names '%s', which is not a container of this task definition.", field, target)
	}
	return nil
}

func (v *taskDefValidator) ports(c store.ContainerDefinition) error {
	if len(c.PortMappings) > 0 && v.mode == store.NetworkModeNone {
		return containerErr(c.Name, "portMappings are not allowed in network mode none.")
	}
	if err := v.portOverlaps(c); err != nil {
		return err
	}
	for _, pm := range c.PortMappings {
		if pm.Protocol != "" && pm.Protocol != "tcp" && pm.Protocol != "udp" {
			return containerErr(c.Name, "portMappings protocol %q is invalid; use tcp or udp.", pm.Protocol)
		}
		if pm.AppProtocol != "" && !slices.Contains([]string{"http", "http2", "grpc"}, pm.AppProtocol) {
			return containerErr(c.Name, "portMappings appProtocol %q is invalid; use http, http2 or grpc.", pm.AppProtocol)
		}
		if pm.HostPort != nil && (*pm.HostPort < 0 || *pm.HostPort > 65535) {
			return containerErr(c.Name, "portMappings hostPort %d is out of range 0-65535.", *pm.HostPort)
		}
		if pm.ContainerPortRange != "" {
			if err := v.portRange(c.Name, pm); err != nil {
				return err
			}
			continue
		}
		if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > 65535 {
			return containerErr(c.Name, "portMappings containerPort is required and must be 1-65535 (or use containerPortRange).")
		}
		if v.mode == store.NetworkModeHost && pm.HostPort != nil && *pm.HostPort != *pm.ContainerPort {
			return containerErr(c.Name, "portMappings hostPort (%d) must equal containerPort (%d) in host network mode.", *pm.HostPort, *pm.ContainerPort)
		}
	}
	return nil
}

// portOverlaps enforces ECS's rules that a container port appears in one
// mapping only (ranges included) and that a container has at most
// maxPortRanges ranges. Malformed mappings are left to ports.
func (v *taskDefValidator) portOverlaps(c store.ContainerDefinition) error {
	used := map[string]bool{} // "<protocol>/<port>"
	ranges := 0
	for _, pm := range c.PortMappings {
		proto := pm.Protocol
		if proto == "" {
			proto = "tcp"
		}
		lo, hi, ok := parsePortRange(pm.ContainerPortRange)
		switch {
		case ok:
			ranges++
		case pm.ContainerPortRange == "" && pm.ContainerPort != nil:
			lo, hi = *pm.ContainerPort, *pm.ContainerPort
		default:
			continue
		}
		for p := lo; p <= hi; p++ {
			key := proto + "/" + strconv.Itoa(p)
			if used[key] {
				return containerErr(c.Name, "portMappings: container port %d/%s appears in more than one mapping; each port may be mapped once.", p, proto)
			}
			used[key] = true
		}
	}
	if ranges > maxPortRanges {
		return containerErr(c.Name, "portMappings can have at most %d containerPortRange entries.", maxPortRanges)
	}
	return nil
}

// parsePortRange reads "first-last" with 1 <= first < last <= 65535.
func parsePortRange(r string) (first, last int, ok bool) {
	lo, hi, found := strings.Cut(r, "-")
	a, errA := strconv.Atoi(lo)
	b, errB := strconv.Atoi(hi)
	if !found || errA != nil || errB != nil || a < 1 || b > 65535 || a >= b {
		return 0, 0, false
	}
	return a, b, true
}

func (v *taskDefValidator) portRange(name string, pm store.PortMapping) error {
	if v.mode != store.NetworkModeBridge {
		return containerErr(name, "portMappings containerPortRange is supported only in bridge network mode.")
	}
	if pm.HostPort != nil || pm.ContainerPort != nil {
		return containerErr(name, "portMappings containerPortRange %q must be given without containerPort and hostPort; host ports are assigned.", pm.ContainerPortRange)
	}
	if _, _, ok := parsePortRange(pm.ContainerPortRange); !ok {
		return containerErr(name, "portMappings containerPortRange %q is invalid; use first-last with 1 <= first < last <= 65535.", pm.ContainerPortRange)
	}
	return nil
}

func (v *taskDefValidator) mounts(c store.ContainerDefinition) error {
	for _, mp := range c.MountPoints {
		if !v.volumes[mp.SourceVolume] {
			return containerErr(c.Name, "mountPoints sourceVolume '%s' is not defined in the task definition's volumes.", mp.SourceVolume)
		}
		if !strings.HasPrefix(mp.ContainerPath, "/") {
			return containerErr(c.Name, "mountPoints containerPath %q for volume '%s' must be an absolute path.", mp.ContainerPath, mp.SourceVolume)
		}
	}
	return nil
}

func (v *taskDefValidator) logAndLimits(c store.ContainerDefinition) error {
	if lc := c.LogConfiguration; lc != nil && !slices.Contains(logDrivers, lc.LogDriver) {
		return containerErr(c.Name, "logConfiguration logDriver %q is invalid; use one of %s.", lc.LogDriver, strings.Join(logDrivers, ", "))
	}
	seen := map[string]bool{}
	for _, u := range c.Ulimits {
		if !slices.Contains(ulimitNames, u.Name) {
			return containerErr(c.Name, "ulimits name %q is invalid; use one of %s.", u.Name, strings.Join(ulimitNames, ", "))
		}
		if seen[u.Name] {
			return containerErr(c.Name, "ulimits name %q is given twice.", u.Name)
		}
		seen[u.Name] = true
		if u.SoftLimit > u.HardLimit {
			return containerErr(c.Name, "ulimits %s softLimit (%d) must not be greater than hardLimit (%d).", u.Name, u.SoftLimit, u.HardLimit)
		}
	}
	return nil
}

func (v *taskDefValidator) timeouts(c store.ContainerDefinition) error {
	if c.StopTimeout != nil && (*c.StopTimeout < 0 || *c.StopTimeout > maxStopTimeoutSeconds) {
		return containerErr(c.Name, "stopTimeout must be 0 to %d seconds.", maxStopTimeoutSeconds)
	}
	if c.StartTimeout != nil && *c.StartTimeout < 0 {
		return containerErr(c.Name, "startTimeout must not be negative.")
	}
	rp := c.RestartPolicy
	if rp == nil {
		return nil
	}
	if rp.Enabled == nil {
		return containerErr(c.Name, "restartPolicy.enabled is required.")
	}
	if p := rp.RestartAttemptPeriod; p != nil && (*p < minRestartAttemptSecs || *p > maxRestartAttemptSecs) {
		return containerErr(c.Name, "restartPolicy.restartAttemptPeriod must be %d to %d seconds.", minRestartAttemptSecs, maxRestartAttemptSecs)
	}
	if len(rp.IgnoredExitCodes) > maxIgnoredExitCodes {
		return containerErr(c.Name, "restartPolicy.ignoredExitCodes can have at most %d items.", maxIgnoredExitCodes)
	}
	return nil
}

// healthCheck applies the ECS ranges (seconds, except retries).
func (v *taskDefValidator) healthCheck(c store.ContainerDefinition) error {
	hc := c.HealthCheck
	if hc == nil {
		return nil
	}
	if len(hc.Command) < 2 || (hc.Command[0] != "CMD" && hc.Command[0] != "CMD-SHELL") {
		return containerErr(c.Name, `healthCheck.command must start with "CMD" or "CMD-SHELL" followed by the command.`)
	}
	for _, r := range []struct {
		field   string
		v       *int
		min, mx int
	}{
		{"interval", hc.Interval, 5, 300},
		{"timeout", hc.Timeout, 2, 60},
		{"retries", hc.Retries, 1, 10},
		{"startPeriod", hc.StartPeriod, 0, 300},
	} {
		if r.v != nil && (*r.v < r.min || *r.v > r.mx) {
			return containerErr(c.Name, "healthCheck.%s must be %d to %d.", r.field, r.min, r.mx)
		}
	}
	return nil
}

func (v *taskDefValidator) linux(c store.ContainerDefinition) error {
	lp := c.LinuxParameters
	if lp == nil {
		return nil
	}
	if lp.SharedMemorySize != nil && *lp.SharedMemorySize < 1 {
		return containerErr(c.Name, "linuxParameters.sharedMemorySize must be at least 1 MiB.")
	}
	for _, d := range lp.Devices {
		if d.HostPath == "" {
			return containerErr(c.Name, "linuxParameters.devices hostPath is required.")
		}
		for _, p := range d.Permissions {
			if p != "read" && p != "write" && p != "mknod" {
				return containerErr(c.Name, "linuxParameters.devices permission %q is invalid; use read, write or mknod.", p)
			}
		}
	}
	for _, t := range lp.Tmpfs {
		if !strings.HasPrefix(t.ContainerPath, "/") || t.Size < 1 {
			return containerErr(c.Name, "linuxParameters.tmpfs needs an absolute containerPath and a size of at least 1 MiB.")
		}
	}
	return nil
}

func (v *taskDefValidator) misc(c store.ContainerDefinition) error {
	for _, h := range c.ExtraHosts {
		if h.Hostname == "" || net.ParseIP(h.IPAddress) == nil {
			return containerErr(c.Name, "extraHosts entries need a hostname and a valid ipAddress (got %q=%q).", h.Hostname, h.IPAddress)
		}
	}
	for _, e := range c.Environment {
		if e.Name == "" {
			return containerErr(c.Name, "environment variables need a name.")
		}
	}
	for k := range c.DockerLabels {
		if k == "" {
			return containerErr(c.Name, "dockerLabels keys must not be empty.")
		}
	}
	return nil
}

// taskTotals checks the containers against the task-level sizes.
func (v *taskDefValidator) taskTotals() error {
	cpu := 0
	for _, c := range v.td.ContainerDefinitions {
		cpu += c.CPU
	}
	if v.taskCPU > 0 && cpu > v.taskCPU {
		return clientErr(CodeClientException, "cpu: the containers' cpu adds up to %d units, more than the task cpu (%d units).", cpu, v.taskCPU)
	}
	// What the containers reserve (memoryReservation, else memory) must fit
	// in the task memory.
	reserved := 0
	for _, c := range v.td.ContainerDefinitions {
		switch {
		case c.MemoryReservation != nil:
			reserved += *c.MemoryReservation
		case c.Memory != nil:
			reserved += *c.Memory
		}
	}
	if v.taskMemMB > 0 && reserved > v.taskMemMB {
		return clientErr(CodeClientException, "memory: the containers reserve %d MiB (memoryReservation, else memory), more than the task memory (%d MiB).", reserved, v.taskMemMB)
	}
	return nil
}
