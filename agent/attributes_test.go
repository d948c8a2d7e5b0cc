package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

// TestUnimplementedCapabilitiesNotAdvertised: with every setting that adds
// a capability turned on, none of the features the engine refuses is
// advertised, so placement never sends them here on purpose.
func TestUnimplementedCapabilitiesNotAdvertised(t *testing.T) {
	cfg := config.Default()
	cfg.TaskIAMRoleEnabled, cfg.TaskIAMRoleEnabledForNetworkHost = true, true
	cfg.AvailableLoggingDrivers = []string{"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs",
		"splunk", "logentries", "sumologic", "none", "awsfirelens"}
	docker := dockerapi.VersionInfo{ServerVersion: "28.0.0", APIVersion: "1.48", MinAPIVersion: "1.12"}
	advertised := map[string]bool{}
	for _, a := range registrationAttributes(docker, engineCapabilities(cfg, docker, hostFeatures{taskCgroups: true}), nil) {
		advertised[*a.Name] = true
	}
	for _, name := range notAdvertised {
		assert.False(t, advertised[name], "%s is advertised, but the engine does not implement it", name)
	}
}

// Task roles and task-level limits are advertised exactly when the engine
// runs tasks that use them: a role with ECS_ENABLE_TASK_IAM_ROLE (host mode
// also with ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST), limits when task
// cgroups work.
func TestTaskRoleAndLimitCapabilities(t *testing.T) {
	docker := dockerapi.VersionInfo{ServerVersion: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12"}
	for _, tc := range []struct {
		bridge, host, cgroups bool
		want                  []string
	}{
		{},
		{bridge: true, want: []string{"com.amazonaws.ecs.capability.task-iam-role"}},
		{host: true},
		{bridge: true, host: true, want: []string{"com.amazonaws.ecs.capability.task-iam-role",
			"com.amazonaws.ecs.capability.task-iam-role-network-host"}},
		{cgroups: true, want: []string{"ecs.capability.task-cpu-mem-limit", "ecs.capability.increased-task-cpu-limit"}},
	} {
		cfg := config.Default()
		cfg.TaskIAMRoleEnabled, cfg.TaskIAMRoleEnabledForNetworkHost = tc.bridge, tc.host
		var got []string
		for _, c := range engineCapabilities(cfg, docker, hostFeatures{taskCgroups: tc.cgroups}) {
			if strings.Contains(c, "task-iam-role") || strings.Contains(c, "task-cpu") {
				got = append(got, c)
			}
		}
		assert.Equal(t, tc.want, got, "%+v", tc)
	}
}

// An ECS Anywhere agent says so, and only then: the control plane places
// only EXTERNAL tasks on such an instance.
func TestExternalCapability(t *testing.T) {
	docker := dockerapi.VersionInfo{APIVersion: "1.41"}
	for _, external := range []bool{false, true} {
		cfg := config.Default()
		cfg.External = external
		assert.Equal(t, external, slices.Contains(engineCapabilities(cfg, docker, hostFeatures{}), "ecs.capability.external"), "ECS_EXTERNAL=%v", external)
	}
}
