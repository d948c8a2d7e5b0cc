package ecsapi

import (
	"slices"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// Attribute names a task definition can require of a container instance,
// as ECS computes them at registration. Placement only picks instances
// that have every one.
const (
	attrPrefixLegacy     = "com.amazonaws.ecs.capability."
	attrPrefix           = "ecs.capability."
	attrDockerAPI        = attrPrefixLegacy + "docker-remote-api."
	attrLoggingDriver    = attrPrefixLegacy + "logging-driver."
	attrPrivileged       = attrPrefixLegacy + "privileged-container"
	attrTaskIAMRole      = attrPrefixLegacy + "task-iam-role"
	attrHealthCheck      = attrPrefix + "container-health-check"
	attrContainerOrder   = attrPrefix + "container-ordering"
	attrTaskCPUMemLimit  = attrPrefix + "task-cpu-mem-limit"
	attrRestartPolicy    = attrPrefix + "container-restart-policy"
	attrContainerPortRng = attrPrefix + "container-port-range"
	attrDockerPlugin     = attrPrefix + "docker-plugin."
)

// requiredAttributes lists, sorted and without duplicates, the capabilities
// an instance needs to run td: the Docker API version of each feature used,
// and the named capabilities (log driver, health check, ordering ...).
func requiredAttributes(td store.TaskDefinition) []store.Attribute {
	need := map[string]bool{}
	api := func(v string) { need[attrDockerAPI+v] = true }
	if td.TaskRoleARN != "" {
		need[attrTaskIAMRole] = true
	}
	if td.CPU != "" || td.Memory != "" {
		need[attrTaskCPUMemLimit] = true
	}
	if td.PIDMode != "" || td.IPCMode != "" {
		api("1.33")
	}
	if td.NetworkMode != "" {
		api("1.18")
	}
	for _, vol := range td.Volumes {
		if dvc := vol.DockerVolumeConfiguration; dvc != nil {
			api("1.25")
			if dvc.Driver != "" && dvc.Driver != "local" {
				need[attrDockerPlugin+dvc.Driver] = true
			}
		}
	}
	for _, c := range td.ContainerDefinitions {
		containerAttributes(c, need, api)
	}
	out := make([]store.Attribute, 0, len(need))
	for name := range need {
		out = append(out, store.Attribute{Name: name})
	}
	slices.SortFunc(out, func(a, b store.Attribute) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func containerAttributes(c store.ContainerDefinition, need map[string]bool, api func(string)) {
	if c.LogConfiguration != nil {
		need[attrLoggingDriver+c.LogConfiguration.LogDriver] = true
		api("1.18")
		if c.LogConfiguration.LogDriver == "awslogs" {
			api("1.19")
		}
	}
	if c.Privileged != nil && *c.Privileged {
		need[attrPrivileged] = true
	}
	if c.HealthCheck != nil {
		need[attrHealthCheck] = true
		api("1.24")
	}
	if len(c.DependsOn) > 0 || c.StartTimeout != nil || c.StopTimeout != nil {
		need[attrContainerOrder] = true
	}
	if c.RestartPolicy != nil && c.RestartPolicy.Enabled != nil && *c.RestartPolicy.Enabled {
		need[attrRestartPolicy] = true
	}
	for _, pm := range c.PortMappings {
		if pm.ContainerPortRange != "" {
			need[attrContainerPortRng] = true
		}
	}
	if len(c.DockerLabels) > 0 || len(c.Ulimits) > 0 {
		api("1.18")
	}
	if c.MemoryReservation != nil {
		api("1.21")
	}
	if len(c.SystemControls) > 0 {
		api("1.19")
	}
	if lp := c.LinuxParameters; lp != nil {
		if lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
			api("1.25")
		}
		if lp.SharedMemorySize != nil || len(lp.Tmpfs) > 0 {
			api("1.22")
		}
	}
}
