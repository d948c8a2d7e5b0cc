package agent

import (
	"runtime"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// Attribute names the agent sends (reference §4).
const (
	attrOSType           = "ecs.os-type"
	attrOSFamily         = "ecs.os-family"
	attrCPUArchitecture  = "ecs.cpu-architecture"
	attrAvailabilityZone = "ecs.availability-zone" // returned by the backend, never sent

	capabilityPrefixLegacy = "com.amazonaws.ecs.capability."
	capabilityPrefix       = "ecs.capability."
)

// Capabilities the task engine provides (reference §4). They are advertised
// only when the engine runs, so the backend never places a task this agent
// cannot honour.
const (
	capContainerOrdering   = capabilityPrefix + "container-ordering"
	capContainerPortRange  = capabilityPrefix + "network.container-port-range"
	capRestartPolicy       = capabilityPrefix + "container-restart-policy"
	capHealthCheck         = capabilityPrefix + "container-health-check"
	capPrivileged          = capabilityPrefixLegacy + "privileged-container"
	capLoggingDriverPrefix = capabilityPrefixLegacy + "logging-driver."
	capTaskIAMRole         = capabilityPrefixLegacy + "task-iam-role"
	capTaskIAMRoleHost     = capabilityPrefixLegacy + "task-iam-role-network-host"
	capTaskCPUMemLimit     = capabilityPrefix + "task-cpu-mem-limit"
	capIncreasedTaskCPU    = capabilityPrefix + "increased-task-cpu-limit"
	// capExternal marks an ECS Anywhere instance (ECS_EXTERNAL): ECS places
	// only EXTERNAL tasks on it, and EC2 tasks never.
	capExternal = capabilityPrefix + "external"

	// healthCheckAPI is the first Docker API with container health checks.
	healthCheckAPI = "1.24"
)

// notAdvertised lists capabilities of Amazon's agent that this one must not
// advertise until the engine implements them: a task definition using the
// feature requires the attribute, so placement keeps such tasks away, and
// the engine refuses a payload that uses the feature anyway
// (engine/convert_members.go) rather than run it without that part.
var notAdvertised = []string{
	capabilityPrefix + "secrets.ssm.environment-variables",
	capabilityPrefix + "secrets.asm.environment-variables",
	capabilityPrefix + "secrets.ssm.bootstrap.log-driver",
	capabilityPrefix + "secrets.asm.bootstrap.log-driver",
	capabilityPrefix + "env-files.s3",
	capabilityPrefix + "private-registry-authentication.secretsmanager",
	capabilityPrefix + "execution-role-awslogs",
	capabilityPrefix + "execution-role-ecr-pull",
	capabilityPrefixLegacy + "ecr-auth",
	capabilityPrefix + "efs",
	capabilityPrefix + "efsAuth",
	capabilityPrefix + "fsxWindowsFileServer",
	capabilityPrefix + "storage.ebs-task-volume-attach",
	capabilityPrefix + "firelens.fluentd",
	capabilityPrefix + "firelens.fluentbit",
	capabilityPrefix + "firelens.options.config.file",
	capabilityPrefix + "firelens.options.config.s3",
	capabilityPrefixLegacy + "logging-driver.awsfirelens",
	capabilityPrefix + "gmsa",
	capabilityPrefix + "gmsa-domainless",
	capabilityPrefix + "execute-command",
	capabilityPrefix + "aws-appmesh",
	capabilityPrefix + "task-eni",
	capabilityPrefix + "task-eia",
	capabilityPrefix + "service-connect-v1",
	capabilityPrefix + "fault-injection",
	capabilityPrefix + "pid-ipc-namespace-sharing",
}

// loggingDriverAPI is the first Docker API version of each log driver the
// engine can configure. awsfirelens is left out: it needs a FireLens log
// router container, which the engine does not provide.
var loggingDriverAPI = map[string]string{
	"json-file": "1.18", "syslog": "1.18", "journald": "1.19", "gelf": "1.20", "fluentd": "1.20",
	"awslogs": "1.21", "splunk": "1.22", "logentries": "1.25", "sumologic": "1.29", "none": "1.19",
}

// hostFeatures are what the agent found it can do on this host.
type hostFeatures struct {
	taskCgroups bool // task cgroups work (ECS_ENABLE_TASK_CPU_MEM_LIMIT and a usable cgroupfs)
}

// engineCapabilities lists the capabilities of the task engine under cfg.
// The task role capabilities follow the settings the engine checks before
// it runs a task with a role: host mode needs both.
func engineCapabilities(cfg *config.Config, docker dockerapi.VersionInfo, host hostFeatures) []string {
	caps := []string{capContainerOrdering, capContainerPortRange, capRestartPolicy}
	if cfg.External {
		caps = append(caps, capExternal)
	}
	if cfg.TaskIAMRoleEnabled {
		caps = append(caps, capTaskIAMRole)
		if cfg.TaskIAMRoleEnabledForNetworkHost {
			caps = append(caps, capTaskIAMRoleHost)
		}
	}
	if host.taskCgroups {
		caps = append(caps, capTaskCPUMemLimit, capIncreasedTaskCPU)
	}
	if !cfg.DisableDockerHealthCheck && docker.Supports(healthCheckAPI) {
		caps = append(caps, capHealthCheck)
	}
	if !cfg.PrivilegedDisabled {
		caps = append(caps, capPrivileged)
	}
	for _, d := range cfg.AvailableLoggingDrivers {
		if api, ok := loggingDriverAPI[d]; ok && docker.Supports(api) {
			caps = append(caps, capLoggingDriverPrefix+d)
		}
	}
	return caps
}

// dockerRemoteAPIVersions are the docker-remote-api capabilities the
// incumbent advertises: 1.17 to 1.32, except 1.26, 1.27 and 1.31.
var dockerRemoteAPIVersions = []string{
	"1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25",
	"1.28", "1.29", "1.30", "1.32",
}

// cpuArchitecture maps GOARCH to the names ECS uses.
func cpuArchitecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	default:
		return goarch // arm64 and the rest are spelled the same
	}
}

// registrationAttributes lists what this agent really supports: the OS
// attributes, the Docker API versions the engine accepts and caps (the task
// engine's capabilities, see engineCapabilities). ECR, secrets and the
// rest are not promised before they work. custom
// (ECS_INSTANCE_ATTRIBUTES) is included only on first registration, as the
// incumbent does; pass nil on re-registration.
func registrationAttributes(docker dockerapi.VersionInfo, caps []string, custom map[string]string) []ecstypes.Attribute {
	attrs := []ecstypes.Attribute{
		{Name: aws.String(attrOSType), Value: aws.String("linux")},
		{Name: aws.String(attrOSFamily), Value: aws.String("LINUX")},
		{Name: aws.String(attrCPUArchitecture), Value: aws.String(cpuArchitecture(runtime.GOARCH))},
	}
	for _, v := range dockerRemoteAPIVersions {
		if docker.Supports(v) {
			attrs = append(attrs, ecstypes.Attribute{Name: aws.String(capabilityPrefixLegacy + "docker-remote-api." + v)})
		}
	}
	for _, c := range caps {
		attrs = append(attrs, ecstypes.Attribute{Name: aws.String(c)})
	}
	names := make([]string, 0, len(custom))
	for k := range custom {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		attrs = append(attrs, ecstypes.Attribute{Name: aws.String(k), Value: aws.String(custom[k])})
	}
	return attrs
}

// missingAttributes returns the sent attributes that the backend did not
// echo back with the same value. An empty returned list means the backend
// does not echo attributes, which is not a mismatch.
func missingAttributes(sent, returned []ecstypes.Attribute) []string {
	if len(returned) == 0 {
		return nil
	}
	have := make(map[string]string, len(returned))
	for _, a := range returned {
		have[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	var missing []string
	for _, a := range sent {
		name := aws.ToString(a.Name)
		if v, ok := have[name]; !ok || v != aws.ToString(a.Value) {
			missing = append(missing, name)
		}
	}
	return missing
}

// attributeValue returns the value of the named attribute, or "".
func attributeValue(attrs []ecstypes.Attribute, name string) string {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}
