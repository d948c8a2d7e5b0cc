package engine

import (
	"fmt"
	"strings"

	"github.com/open-ecs/ecs-agent/acs/wire"
)

// What the agent does with every member of the ACS task shapes
// (acs-api-2.json: Task, Container, Volume, and the shapes nested in the
// members it acts on). Amazon ECS sends a feature only to an instance that
// advertises its capability, and this agent advertises none of the refused
// ones; a payload that uses one anyway (from an older control plane, or
// placed through a custom attribute) is stopped before any container is
// created, with a reason naming the member. A task never runs without a part
// it asked for. TestACSMembersMatchModel keeps these tables equal to the
// model, so a member added to it later cannot be dropped quietly either.

// memberUse is what the agent does with one member.
type memberUse int

const (
	useActed   memberUse = iota + 1 // converted and acted on
	useInfo                         // identifies or describes the task; changes nothing that runs
	useRefused                      // not supported: a task that uses it is refused
)

// refusal is a member the agent refuses: how to tell that a value uses it,
// and what it is, for the stop reason.
type refusal[T any] struct {
	member string
	what   string // a few words after the member name in the reason, or ""
	used   func(*T) bool
}

var taskRefusals = []refusal[wire.Task]{
	{"agentConfiguration", "", func(t *wire.Task) bool { return t.AgentConfiguration != "" }},
	{"associations", "GPUs or elastic inference accelerators", func(t *wire.Task) bool { return len(t.Associations) > 0 }},
	{"attachments", "EBS volumes, Service Connect and other attachments", func(t *wire.Task) bool { return len(t.Attachments) > 0 }},
	{"elasticNetworkInterfaces", "awsvpc networking", func(t *wire.Task) bool { return len(t.ElasticNetworkInterfaces) > 0 }},
	{"enableFaultInjection", "", func(t *wire.Task) bool { return t.EnableFaultInjection }},
	{"proxyConfiguration", "an App Mesh proxy", func(t *wire.Task) bool { return t.ProxyConfiguration != nil }},
	{"trustedExecutionConfiguration", "", func(t *wire.Task) bool { return t.TrustedExecutionConfiguration != nil }},
}

var containerRefusals = []refusal[wire.Container]{
	{"credentialSpecs", "gMSA", func(c *wire.Container) bool { return len(c.CredentialSpecs) > 0 }},
	{"environmentFiles", "", func(c *wire.Container) bool { return len(c.EnvironmentFiles) > 0 }},
	{"firelensConfiguration", "FireLens", func(c *wire.Container) bool { return c.FirelensConfiguration != nil }},
	{"logsAuthStrategy", "log driver credentials from the execution role", func(c *wire.Container) bool { return c.LogsAuthStrategy != "" }},
	{"managedAgents", "ECS Exec", func(c *wire.Container) bool { return len(c.ManagedAgents) > 0 }},
	{"networkInterfaceNames", "", func(c *wire.Container) bool { return len(c.NetworkInterfaceNames) > 0 }},
	{"registryAuthentication", "private registry or ECR credentials", func(c *wire.Container) bool { return c.RegistryAuthentication != nil }},
	{"secrets", "", func(c *wire.Container) bool { return len(c.Secrets) > 0 }},
}

var volumeRefusals = []refusal[wire.Volume]{
	{"ebsVolumeConfiguration", "", func(v *wire.Volume) bool { return v.EBSVolumeConfiguration != nil }},
	{"efsVolumeConfiguration", "", func(v *wire.Volume) bool { return v.EFSVolumeConfiguration != nil }},
	{"fsxWindowsFileServerVolumeConfiguration", "", func(v *wire.Volume) bool { return v.FsxWindowsFileServerVolumeConfiguration != nil }},
	{"logDriverVolumeConfiguration", "", func(v *wire.Volume) bool { return v.LogDriverVolumeConfiguration != nil }},
}

// acsMembers lists every member of the shapes the agent reads. The refused
// members of Task, Container and Volume each have a refusal above.
var acsMembers = map[string]map[string]memberUse{
	"Task": {
		"arn": useActed, "taskClusterArn": useActed, "family": useActed, "version": useActed,
		"desiredStatus": useActed, "containers": useActed, "volumes": useActed, "cpu": useActed,
		"memory": useActed, "networkMode": useActed, "pidMode": useActed, "ipcMode": useActed,
		// The backend applies the task overrides to the members above
		// before it sends the task; what is left for the agent is in
		// each container's overrides.
		"overrides": useInfo,
		"zone":      useInfo, "taskDefinitionAccountId": useInfo, "launchType": useInfo,
		"serviceName": useInfo, "group": useInfo,
		// The credentials go to the agent's in-memory store (agent/payload.go);
		// the engine keeps their IDs, injects the task role's URI and
		// refuses a role this instance does not serve (checkRoles).
		"roleCredentials": useActed, "executionRoleCredentials": useActed,
		"agentConfiguration": useRefused, "associations": useRefused, "attachments": useRefused,
		"elasticNetworkInterfaces": useRefused, "enableFaultInjection": useRefused,
		"proxyConfiguration": useRefused, "trustedExecutionConfiguration": useRefused,
	},
	"Container": {
		"name": useActed, "image": useActed, "cpu": useActed, "memory": useActed, "essential": useActed,
		"command": useActed, "entryPoint": useActed, "environment": useActed, "links": useActed,
		"portMappings": useActed, "mountPoints": useActed, "volumesFrom": useActed,
		"dockerConfig": useActed, "overrides": useActed, "linuxParameters": useActed,
		"privileged": useActed, "healthCheckType": useActed, "dependsOn": useActed,
		"startTimeout": useActed, "stopTimeout": useActed, "restartPolicy": useActed,
		"containerArn":    useInfo,
		"credentialSpecs": useRefused, "environmentFiles": useRefused, "firelensConfiguration": useRefused,
		"logsAuthStrategy": useRefused, "managedAgents": useRefused, "networkInterfaceNames": useRefused,
		"registryAuthentication": useRefused, "secrets": useRefused,
	},
	"Volume": {
		"name": useActed, "type": useActed, "host": useActed, "dockerVolumeConfiguration": useActed,
		"ebsVolumeConfiguration": useRefused, "efsVolumeConfiguration": useRefused,
		"fsxWindowsFileServerVolumeConfiguration": useRefused, "logDriverVolumeConfiguration": useRefused,
	},
	"PortMapping":         {"containerPort": useActed, "containerPortRange": useActed, "hostPort": useActed, "protocol": useActed},
	"MountPoint":          {"sourceVolume": useActed, "containerPath": useActed, "readOnly": useActed},
	"VolumeFrom":          {"sourceContainer": useActed, "readOnly": useActed},
	"ContainerDependency": {"containerName": useActed, "condition": useActed},
	// version is the lowest Docker API version the JSON needs; the agent
	// negotiates the version with the engine instead.
	"DockerConfig":         {"config": useActed, "hostConfig": useActed, "version": useInfo},
	"LinuxParameters":      {"capabilities": useActed, "devices": useActed, "initProcessEnabled": useActed, "sharedMemorySize": useActed},
	"KernelCapabilities":   {"add": useActed, "drop": useActed},
	"Device":               {"hostPath": useActed, "containerPath": useActed, "permissions": useActed},
	"RestartPolicy":        {"enabled": useActed, "ignoredExitCodes": useActed, "restartAttemptPeriod": useActed},
	"HostVolumeProperties": {"sourcePath": useActed},
	// credentialScope says which partition the keys are for; the SDKs in
	// the containers know their own.
	"IAMRoleCredentials": {"credentialsId": useActed, "roleArn": useActed, "accessKeyId": useActed,
		"secretAccessKey": useActed, "sessionToken": useActed, "expiration": useActed, "credentialScope": useInfo},
	"DockerVolumeConfiguration": {"scope": useActed, "autoprovision": useActed, "driver": useActed, "driverOpts": useActed, "labels": useActed},
}

// maxListedMembers bounds the unknown members named in a stop reason.
const maxListedMembers = 10

// unsupportedMembers returns why wt cannot run on this agent because of the
// members it uses: unknown members first, then every refused one in use.
// "" means none.
func unsupportedMembers(wt *wire.Task) string {
	var reasons []string
	if n := len(wt.UnknownMembers); n > 0 {
		listed := wt.UnknownMembers[:min(n, maxListedMembers)]
		more := ""
		if n > maxListedMembers {
			more = fmt.Sprintf(" and %d more", n-maxListedMembers)
		}
		reasons = append(reasons, fmt.Sprintf("the task has members this agent does not know (%s%s); it refuses the task rather than run it without them",
			strings.Join(listed, ", "), more))
	}
	reasons = appendRefused(reasons, "the task", wt, taskRefusals)
	for i := range wt.Containers {
		c := &wt.Containers[i]
		reasons = appendRefused(reasons, fmt.Sprintf("container %q", c.Name), c, containerRefusals)
	}
	for i := range wt.Volumes {
		v := &wt.Volumes[i]
		reasons = appendRefused(reasons, fmt.Sprintf("volume %q", v.Name), v, volumeRefusals)
	}
	return strings.Join(reasons, "; ")
}

func appendRefused[T any](reasons []string, subject string, v *T, refusals []refusal[T]) []string {
	for _, r := range refusals {
		if !r.used(v) {
			continue
		}
		what := r.member
		if r.what != "" {
			what += " (" + r.what + ")"
		}
		reasons = append(reasons, fmt.Sprintf("%s uses %s, which this agent does not support", subject, what))
	}
	return reasons
}
