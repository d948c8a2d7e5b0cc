// Package payload converts a stored task definition, plus one task's
// overrides, into the ACS Task the control plane delivers to an agent in a
// PayloadMessage (reference §5.6, §5.7).
//
// The overrides are applied here, into the converted members, so the wire
// overrides are always "{}": the agent runs exactly what it receives.
// Members the ACS Container shape lacks travel as Docker Engine API JSON in
// dockerConfig: memoryReservation, healthCheck, logConfiguration, ulimits,
// labels and the like in config and hostConfig, which the agent unmarshals
// over the Docker config it builds from the other members. Linux parameters
// are sent both ways (linuxParameters and hostConfig) so an agent that
// overlays hostConfig needs nothing else.
//
// Features a task definition can name but only an agent that implements
// them can honour (secrets, env files, registry credentials, FireLens,
// gMSA, EFS and FSx volumes) are sent as the ACS members that carry them,
// never left out: placement sends such a task only to an instance that
// advertises the capability, and an agent that gets one anyway refuses it
// by name instead of running it without that part. The task's role
// credentials, issued by the caller, travel as roleCredentials and
// executionRoleCredentials.
package payload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// launchTypeEC2 is the only launch type of this control plane.
const launchTypeEC2 = "EC2"

// defaultRestartAttemptPeriod is ECS's default restartAttemptPeriod in
// seconds; it is sent explicitly so the agent need not know it.
const defaultRestartAttemptPeriod = 300

// noOverrides is what the wire overrides members carry: the overrides are
// already applied.
const noOverrides = "{}"

// TaskInput is what a task adds to its task definition.
type TaskInput struct {
	ARN           string
	ClusterARN    string
	DesiredStatus string // RUNNING or STOPPED
	Group         string
	StartedBy     string // not part of the ACS Task; kept for the caller's records
	// Overrides is the task's ECS TaskOverride JSON, or nil.
	Overrides json.RawMessage
	// RoleCredentials and ExecutionRoleCredentials are the credentials
	// issued for the task's roles (controlplane/roles), or nil.
	RoleCredentials, ExecutionRoleCredentials *wire.IAMRoleCredentials
}

// Task converts def, with in's overrides applied, into the ACS Task. An
// error wrapping ErrInvalidOverride means the overrides do not fit def.
func Task(def store.TaskDefinition, in TaskInput) (*wire.Task, error) {
	def, err := Resolve(def, in.Overrides)
	if err != nil {
		return nil, err
	}
	cpu, err := ParseCPU(def.CPU)
	if err != nil {
		return nil, fmt.Errorf("task definition %s: cpu: %w", def.ARN, err)
	}
	memory, err := ParseMemory(def.Memory)
	if err != nil {
		return nil, fmt.Errorf("task definition %s: memory: %w", def.ARN, err)
	}
	for _, c := range def.ContainerDefinitions {
		if gpus := gpuCount(c); gpus > 0 {
			// Placement never puts a GPU task on an instance here
			// (RESOURCE:GPU); there is no GPU to assign if one gets this far.
			return nil, fmt.Errorf("task definition %s: container %s needs %d GPU(s), which this control plane cannot assign", def.ARN, c.Name, gpus)
		}
	}
	t := &wire.Task{
		ARN:                     in.ARN,
		TaskClusterARN:          in.ClusterARN,
		DesiredStatus:           in.DesiredStatus,
		Group:                   in.Group,
		Family:                  def.Family,
		Version:                 strconv.Itoa(def.Revision),
		NetworkMode:             networkMode(def.NetworkMode),
		PIDMode:                 def.PIDMode,
		IPCMode:                 def.IPCMode,
		CPU:                     float64(cpu) / 1024,
		Memory:                  memory,
		TaskDefinitionAccountID: accountOf(def.ARN),
		LaunchType:              launchTypeEC2,
		Overrides:               noOverrides,
	}
	for _, c := range def.ContainerDefinitions {
		wc, err := container(c)
		if err != nil {
			return nil, err
		}
		t.Containers = append(t.Containers, wc)
	}
	for _, v := range def.Volumes {
		t.Volumes = append(t.Volumes, volume(v))
	}
	t.RoleCredentials, t.ExecutionRoleCredentials = in.RoleCredentials, in.ExecutionRoleCredentials
	if t.RoleCredentials == nil && def.TaskRoleARN != "" {
		// No credentials were issued: the role alone tells the agent that
		// the task has one, so that it refuses the task (no credentialsId)
		// rather than let it use the instance's credentials.
		t.RoleCredentials = &wire.IAMRoleCredentials{RoleARN: def.TaskRoleARN}
	}
	return t, nil
}

// networkMode spells out the default: an unset mode is bridge.
func networkMode(m string) string {
	if m == "" {
		return store.NetworkModeBridge
	}
	return m
}

// accountOf returns the account of an ARN (arn:aws:ecs:<region>:<account>:...).
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func container(c store.ContainerDefinition) (wire.Container, error) {
	dc, err := dockerConfigFor(c)
	if err != nil {
		return wire.Container{}, err
	}
	wc := wire.Container{
		Name:            c.Name,
		Image:           c.Image,
		CPU:             c.CPU,
		Memory:          intOr(c.Memory, 0),
		Essential:       c.IsEssential(),
		Command:         c.Command,
		EntryPoint:      c.EntryPoint,
		Links:           c.Links,
		StartTimeout:    intOr(c.StartTimeout, 0),
		StopTimeout:     intOr(c.StopTimeout, 0),
		Privileged:      c.Privileged,
		Overrides:       noOverrides,
		DockerConfig:    dc,
		CredentialSpecs: c.CredentialSpecs,
		LinuxParameters: linuxParameters(c.LinuxParameters),
		RestartPolicy:   restartPolicy(c.RestartPolicy),
	}
	if len(c.Environment) > 0 {
		wc.Environment = make(map[string]string, len(c.Environment))
		for _, kv := range c.Environment {
			wc.Environment[kv.Name] = kv.Value
		}
	}
	if c.HealthCheck != nil {
		wc.HealthCheckType = wire.HealthCheckTypeDocker
	}
	for _, pm := range c.PortMappings {
		wc.PortMappings = append(wc.PortMappings, wire.PortMapping{
			ContainerPort:      intOr(pm.ContainerPort, 0),
			HostPort:           intOr(pm.HostPort, 0),
			Protocol:           wire.TransportProtocol(protocol(pm.Protocol)),
			ContainerPortRange: pm.ContainerPortRange,
		})
	}
	for _, mp := range c.MountPoints {
		wc.MountPoints = append(wc.MountPoints, wire.MountPoint{
			SourceVolume: mp.SourceVolume, ContainerPath: mp.ContainerPath, ReadOnly: isTrue(mp.ReadOnly)})
	}
	for _, vf := range c.VolumesFrom {
		wc.VolumesFrom = append(wc.VolumesFrom, wire.VolumeFrom{SourceContainer: vf.SourceContainer, ReadOnly: isTrue(vf.ReadOnly)})
	}
	for _, d := range c.DependsOn {
		wc.DependsOn = append(wc.DependsOn, wire.ContainerDependency{
			ContainerName: d.ContainerName, Condition: wire.ContainerCondition(d.Condition)})
	}
	for _, ef := range c.EnvironmentFiles {
		wc.EnvironmentFiles = append(wc.EnvironmentFiles, wire.EnvironmentFile{Value: ef.Value, Type: wire.EnvironmentFileType(ef.Type)})
	}
	if fc := c.FirelensConfiguration; fc != nil {
		wc.FirelensConfiguration = &wire.FirelensConfiguration{Type: wire.FirelensConfigurationType(fc.Type), Options: fc.Options}
	}
	for _, sec := range c.Secrets {
		wc.Secrets = append(wc.Secrets, secret(sec, wire.SecretTargetContainer))
	}
	if lc := c.LogConfiguration; lc != nil {
		for _, sec := range lc.SecretOptions {
			wc.Secrets = append(wc.Secrets, secret(sec, wire.SecretTargetLogDriver))
		}
	}
	if rc := c.RepositoryCredentials; rc != nil {
		wc.RegistryAuthentication = &wire.RegistryAuthenticationData{Type: wire.AuthenticationTypeASM,
			ASMAuthData: &wire.ASMAuthData{CredentialsParameter: rc.CredentialsParameter, Region: regionOf(rc.CredentialsParameter)}}
	}
	return wc, nil
}

// secret converts a secret for the container's environment or its log
// driver; valueFrom names a Secrets Manager secret or an SSM parameter.
func secret(s store.Secret, target wire.SecretTarget) wire.Secret {
	provider := wire.SecretProviderSSM
	if strings.Contains(s.ValueFrom, ":secretsmanager:") {
		provider = wire.SecretProviderASM
	}
	return wire.Secret{Name: s.Name, ValueFrom: s.ValueFrom, Type: wire.SecretTypeEnvironmentVariable,
		Provider: provider, Target: target, Region: regionOf(s.ValueFrom)}
}

// regionOf returns the region of an ARN, or "" for a bare name.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// gpuCount is the number of GPUs a container requires.
func gpuCount(c store.ContainerDefinition) int {
	for _, r := range c.ResourceRequirements {
		if r.Type == "GPU" {
			n, _ := strconv.Atoi(r.Value)
			return n
		}
	}
	return 0
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

func linuxParameters(lp *store.LinuxParameters) *wire.LinuxParameters {
	if lp == nil {
		return nil
	}
	out := &wire.LinuxParameters{
		InitProcessEnabled: lp.InitProcessEnabled,
		SharedMemorySize:   lp.SharedMemorySize,
	}
	if caps := lp.Capabilities; caps != nil {
		out.Capabilities = &wire.KernelCapabilities{Add: caps.Add, Drop: caps.Drop}
	}
	for _, d := range lp.Devices {
		dev := wire.Device{HostPath: d.HostPath, ContainerPath: d.ContainerPath}
		for _, p := range d.Permissions {
			dev.Permissions = append(dev.Permissions, wire.DeviceCgroupPermission(p))
		}
		out.Devices = append(out.Devices, dev)
	}
	return out
}

func restartPolicy(rp *store.RestartPolicy) *wire.RestartPolicy {
	if rp == nil {
		return nil
	}
	return &wire.RestartPolicy{
		Enabled:              isTrue(rp.Enabled),
		IgnoredExitCodes:     rp.IgnoredExitCodes,
		RestartAttemptPeriod: intOr(rp.RestartAttemptPeriod, defaultRestartAttemptPeriod),
	}
}

// volume converts a task volume. One with neither host nor
// dockerVolumeConfiguration is a host volume without a source path, which
// the agent turns into a task-scoped local Docker volume.
func volume(v store.Volume) wire.Volume {
	if efs := v.EFSVolumeConfiguration; efs != nil {
		out := &wire.EFSVolumeConfiguration{FileSystemID: efs.FileSystemID, RootDirectory: efs.RootDirectory,
			TransitEncryption: wire.EFSTransitEncryption(efs.TransitEncryption), TransitEncryptionPort: intOr(efs.TransitEncryptionPort, 0)}
		if ac := efs.AuthorizationConfig; ac != nil {
			out.AuthorizationConfig = &wire.EFSAuthorizationConfig{AccessPointID: ac.AccessPointID, IAM: wire.EFSAuthorizationConfigIAM(ac.IAM)}
		}
		return wire.Volume{Name: v.Name, Type: wire.VolumeTypeEFS, EFSVolumeConfiguration: out}
	}
	if fsx := v.FSxWindowsFileServerVolumeConfiguration; fsx != nil {
		out := &wire.FSxWindowsFileServerVolumeConfiguration{FileSystemID: fsx.FileSystemID, RootDirectory: fsx.RootDirectory}
		if ac := fsx.AuthorizationConfig; ac != nil {
			out.AuthorizationConfig = &wire.FSxWindowsFileServerAuthorizationConfig{CredentialsParameter: ac.CredentialsParameter, Domain: ac.Domain}
		}
		return wire.Volume{Name: v.Name, Type: wire.VolumeTypeFsxWindowsFileServer, FsxWindowsFileServerVolumeConfiguration: out}
	}
	if dvc := v.DockerVolumeConfiguration; dvc != nil {
		scope := dvc.Scope
		if scope == "" {
			scope = string(wire.ScopeTask)
		}
		return wire.Volume{Name: v.Name, Type: wire.VolumeTypeDocker, DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{
			Scope:         wire.Scope(scope),
			Autoprovision: isTrue(dvc.Autoprovision),
			Driver:        dvc.Driver,
			DriverOpts:    dvc.DriverOpts,
			Labels:        dvc.Labels,
		}}
	}
	host := &wire.HostVolumeProperties{}
	if v.Host != nil {
		host.SourcePath = v.Host.SourcePath
	}
	return wire.Volume{Name: v.Name, Type: wire.VolumeTypeHost, Host: host}
}
