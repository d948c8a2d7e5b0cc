package ecsapi

import (
	"regexp"
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

	// Features this control plane stores and sends but an agent must
	// implement: the names Amazon ECS requires for them.
	attrTaskIAMRoleHost   = attrPrefixLegacy + "task-iam-role-network-host"
	attrECRAuth           = attrPrefixLegacy + "ecr-auth"
	attrExecRoleECRPull   = attrPrefix + "execution-role-ecr-pull"
	attrExecRoleAwslogs   = attrPrefix + "execution-role-awslogs"
	attrSecretsSSMEnv     = attrPrefix + "secrets.ssm.environment-variables"
	attrSecretsASMEnv     = attrPrefix + "secrets.asm.environment-variables"
	attrSecretsSSMLog     = attrPrefix + "secrets.ssm.bootstrap.log-driver"
	attrSecretsASMLog     = attrPrefix + "secrets.asm.bootstrap.log-driver"
	attrEnvFilesS3        = attrPrefix + "env-files.s3"
	attrPrivateRegistry   = attrPrefix + "private-registry-authentication.secretsmanager"
	attrFirelens          = attrPrefix + "firelens."
	attrFirelensConfigS3  = attrPrefix + "firelens.options.config.s3"
	attrFirelensConfigFil = attrPrefix + "firelens.options.config.file"
	attrGMSA              = attrPrefix + "gmsa"
	attrGMSADomainless    = attrPrefix + "gmsa-domainless"
	attrEFS               = attrPrefix + "efs"
	attrEFSAuth           = attrPrefix + "efsAuth"
	attrFSx               = attrPrefix + "fsxWindowsFileServer"
)

// ecrImageRE matches an image in a private Amazon ECR registry.
var ecrImageRE = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)

// secretStore returns "asm" for a Secrets Manager secret and "ssm" for a
// Systems Manager parameter (a name or an ARN), as ECS tells them apart.
func secretStore(valueFrom string) string {
	if strings.Contains(valueFrom, ":secretsmanager:") {
		return "asm"
	}
	return "ssm"
}

// requiredAttributes lists, sorted and without duplicates, the capabilities
// an instance needs to run td: the Docker API version of each feature used,
// and the named capabilities (log driver, health check, ordering ...).
func requiredAttributes(td store.TaskDefinition) []store.Attribute {
	need := map[string]bool{}
	api := func(v string) { need[attrDockerAPI+v] = true }
	if td.TaskRoleARN != "" {
		need[attrTaskIAMRole] = true
		if td.NetworkMode == store.NetworkModeHost {
			need[attrTaskIAMRoleHost] = true
		}
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
		if efs := vol.EFSVolumeConfiguration; efs != nil {
			need[attrEFS] = true
			if efs.TransitEncryption == "ENABLED" || efs.AuthorizationConfig != nil {
				need[attrEFSAuth] = true
			}
		}
		if vol.FSxWindowsFileServerVolumeConfiguration != nil {
			need[attrFSx] = true
		}
	}
	for _, c := range td.ContainerDefinitions {
		containerAttributes(c, need, api)
		featureAttributes(td, c, need)
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

// featureAttributes adds what a container needs for the features this
// control plane only passes on: secrets, env files, registry credentials,
// FireLens, gMSA, ECR pulls and awslogs with the execution role. Each
// member is gated here or refused (see taskDefMembers).
func featureAttributes(td store.TaskDefinition, c store.ContainerDefinition, need map[string]bool) {
	for _, s := range c.Secrets {
		if secretStore(s.ValueFrom) == "asm" {
			need[attrSecretsASMEnv] = true
		} else {
			need[attrSecretsSSMEnv] = true
		}
	}
	if lc := c.LogConfiguration; lc != nil {
		for _, s := range lc.SecretOptions {
			if secretStore(s.ValueFrom) == "asm" {
				need[attrSecretsASMLog] = true
			} else {
				need[attrSecretsSSMLog] = true
			}
		}
		if lc.LogDriver == "awslogs" && td.ExecutionRoleARN != "" {
			need[attrExecRoleAwslogs] = true
		}
	}
	if len(c.EnvironmentFiles) > 0 {
		need[attrEnvFilesS3] = true
	}
	if c.RepositoryCredentials != nil {
		need[attrPrivateRegistry] = true
	}
	if ecrImageRE.MatchString(c.Image) {
		need[attrECRAuth] = true
		if td.ExecutionRoleARN != "" {
			need[attrExecRoleECRPull] = true
		}
	}
	if fc := c.FirelensConfiguration; fc != nil {
		need[attrFirelens+fc.Type] = true
		switch fc.Options["config-file-type"] {
		case "s3":
			need[attrFirelensConfigS3] = true
		case "file":
			need[attrFirelensConfigFil] = true
		}
	}
	for _, cs := range c.CredentialSpecs {
		if strings.HasPrefix(cs, "credentialspecdomainless:") {
			need[attrGMSADomainless] = true
		} else {
			need[attrGMSA] = true
		}
	}
}
