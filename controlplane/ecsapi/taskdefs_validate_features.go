package ecsapi

import (
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// gatedFeatures checks the values of the members that are gated by an
// attribute: they are sent to the agent as they are, so they must be
// well-formed here.
func (v *taskDefValidator) gatedFeatures(c store.ContainerDefinition) error {
	for _, s := range c.Secrets {
		if s.Name == "" || s.ValueFrom == "" {
			return containerErr(c.Name, "secrets entries need a name and a valueFrom (an SSM parameter or Secrets Manager secret).")
		}
	}
	if lc := c.LogConfiguration; lc != nil {
		for _, s := range lc.SecretOptions {
			if s.Name == "" || s.ValueFrom == "" {
				return containerErr(c.Name, "logConfiguration.secretOptions entries need a name and a valueFrom.")
			}
		}
	}
	for _, ef := range c.EnvironmentFiles {
		if ef.Type != "s3" || ef.Value == "" {
			return containerErr(c.Name, "environmentFiles entries need type s3 and a value (the ARN of an S3 object).")
		}
	}
	if rc := c.RepositoryCredentials; rc != nil && rc.CredentialsParameter == "" {
		return containerErr(c.Name, "repositoryCredentials.credentialsParameter is required (the ARN of a Secrets Manager secret).")
	}
	if fc := c.FirelensConfiguration; fc != nil && fc.Type != "fluentd" && fc.Type != "fluentbit" {
		return containerErr(c.Name, "firelensConfiguration type %q is invalid; use fluentd or fluentbit.", fc.Type)
	}
	for _, cs := range c.CredentialSpecs {
		if !strings.HasPrefix(cs, "credentialspec:") && !strings.HasPrefix(cs, "credentialspecdomainless:") {
			return containerErr(c.Name, "credentialSpecs entry %q must start with credentialspec: or credentialspecdomainless:.", cs)
		}
	}
	gpu := false
	for _, r := range c.ResourceRequirements {
		switch r.Type {
		case "GPU":
			n, err := strconv.Atoi(r.Value)
			if err != nil || n < 1 {
				return containerErr(c.Name, "resourceRequirements GPU value %q must be a whole number of GPUs, at least 1.", r.Value)
			}
			if gpu {
				return containerErr(c.Name, "resourceRequirements has more than one GPU entry; give one with the number of GPUs.")
			}
			gpu = true
		case "InferenceAccelerator":
			return containerErr(c.Name, "resourceRequirements type InferenceAccelerator needs inferenceAccelerators, which this control plane does not support; remove it.")
		default:
			return containerErr(c.Name, "resourceRequirements type %q is invalid; use GPU.", r.Type)
		}
	}
	if lp := c.LinuxParameters; lp != nil && lp.MaxSwap != nil && c.Memory == nil {
		// Docker's swap limit is the memory limit plus swap: without a
		// limit the swap setting would be dropped.
		return containerErr(c.Name, "linuxParameters.maxSwap needs memory (the hard limit) on the container.")
	}
	return nil
}

// volumeFeatures checks the EFS and FSx volumes and that a volume is of one
// kind only.
func volumeFeatures(vol store.Volume) error {
	kinds := 0
	for _, set := range []bool{vol.Host != nil, vol.DockerVolumeConfiguration != nil,
		vol.EFSVolumeConfiguration != nil, vol.FSxWindowsFileServerVolumeConfiguration != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return invalidParam("volume '%s': set only one of host, dockerVolumeConfiguration, efsVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration.", vol.Name)
	}
	if efs := vol.EFSVolumeConfiguration; efs != nil {
		if efs.FileSystemID == "" {
			return invalidParam("volume '%s': efsVolumeConfiguration.fileSystemId is required.", vol.Name)
		}
		if !slices.Contains([]string{"", "ENABLED", "DISABLED"}, efs.TransitEncryption) {
			return invalidParam("volume '%s': efsVolumeConfiguration.transitEncryption %q is invalid; use ENABLED or DISABLED.", vol.Name, efs.TransitEncryption)
		}
		if ac := efs.AuthorizationConfig; ac != nil {
			if !slices.Contains([]string{"", "ENABLED", "DISABLED"}, ac.IAM) {
				return invalidParam("volume '%s': efsVolumeConfiguration.authorizationConfig.iam %q is invalid; use ENABLED or DISABLED.", vol.Name, ac.IAM)
			}
			if (ac.IAM == "ENABLED" || ac.AccessPointID != "") && efs.TransitEncryption != "ENABLED" {
				return invalidParam("volume '%s': EFS IAM authorization and access points need transitEncryption ENABLED.", vol.Name)
			}
		}
	}
	if fsx := vol.FSxWindowsFileServerVolumeConfiguration; fsx != nil {
		if fsx.FileSystemID == "" || fsx.RootDirectory == "" || fsx.AuthorizationConfig == nil ||
			fsx.AuthorizationConfig.CredentialsParameter == "" || fsx.AuthorizationConfig.Domain == "" {
			return invalidParam("volume '%s': fsxWindowsFileServerVolumeConfiguration needs fileSystemId, rootDirectory and authorizationConfig (credentialsParameter and domain).", vol.Name)
		}
	}
	return nil
}

// containerGPUs is the number of GPUs a container requires (validated at
// registration), for placement.
func containerGPUs(c store.ContainerDefinition) int {
	for _, r := range c.ResourceRequirements {
		if r.Type == "GPU" {
			n, _ := strconv.Atoi(r.Value)
			return n
		}
	}
	return 0
}
