package ecsinit

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
)

func TestAgentContainer(t *testing.T) {
	cfg := defaults(t, "ECS_CLUSTER=prod", "ECS_AGENT_LABELS={\"team\":\"infra\"}", "ECS_LOGFILE=/log/custom.log")
	s := AgentContainer(cfg)
	assert.Equal(t, "ecs-agent", s.Name)
	assert.Equal(t, DefaultImage, s.Image)
	assert.Equal(t, []string{"-config", "none"}, s.Cmd)
	for _, b := range []string{"/var/run:/var/run", "/var/log/ecs:/log", "/var/lib/ecs/data:/data",
		cfg.ConfigDir + ":/etc/ecs:ro", "/var/cache/ecs:/var/cache/ecs", "/var/lib/ecs:/var/lib/ecs", "/proc:/host/proc:ro",
		"/sys/fs/cgroup:/sys/fs/cgroup"} {
		assert.Contains(t, s.Binds, b)
	}
	assert.Equal(t, []string{"NET_ADMIN", "SYS_ADMIN"}, s.CapAdd)
	assert.Equal(t, map[string]string{"team": "infra"}, s.Labels)
	assert.Equal(t, "json-file", s.LogDriver)
	assert.Equal(t, map[string]string{"max-size": "16m", "max-file": "4"}, s.LogOptions)
	assert.Equal(t, StopTimeout, s.StopTimeout)
	assert.Contains(t, s.Env, "ECS_CLUSTER=prod")
	assert.Contains(t, s.Env, "ECS_LOGFILE=/log/custom.log", "the user's settings override ecs-init's defaults")
	assert.Contains(t, s.Env, "ECS_DATADIR=/data")
	assert.Contains(t, s.Env, "ECS_HOST_DATA_DIR=/var/lib/ecs", "the agent bind-mounts metadata files from the host's data directory")
	assert.Contains(t, s.Env, "ECS_ENABLE_TASK_IAM_ROLE=true")
	assert.Contains(t, s.Env, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true")
	assert.Contains(t, s.Env, "ECS_INTROSPECTION_ADDR=127.0.0.1:51678", "introspection stays on loopback by default")
	assert.True(t, slices.IsSorted(s.Env))

	s = AgentContainer(defaults(t, "DOCKER_HOST=unix:///run/docker/alt.sock", "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true",
		"ECS_LOG_DRIVER=syslog", "ECS_AGENT_APPARMOR_PROFILE=ecs", "ECS_AGENT_PID_NAMESPACE_HOST=true"))
	assert.Contains(t, s.Binds, "/run/docker/alt.sock:/run/docker/alt.sock", "DOCKER_HOST's socket is mounted instead of /var/run")
	assert.Contains(t, s.Env, "DOCKER_HOST=unix:///run/docker/alt.sock")
	assert.Contains(t, s.Env, "ECS_INTROSPECTION_ADDR=0.0.0.0:51678")
	assert.Equal(t, "syslog", s.LogDriver)
	assert.Nil(t, s.LogOptions)
	assert.Equal(t, []string{"apparmor=ecs"}, s.SecurityOpt)
	assert.True(t, s.PIDHost)
}

// TestAgentEnvIsClean: the settings ecs-init injects are ones the agent
// acts on; none of them produces a warning at the agent's start.
func TestAgentEnvIsClean(t *testing.T) {
	cfg := defaults(t)
	for name, env := range map[string][]string{
		"container": AgentEnv(cfg),
		"binary":    BinaryEnv(cfg, []string{"PATH=/usr/bin", "ECS_INIT_AGENT_MODE=binary", "ECS_LOG_DRIVER=syslog"}),
	} {
		_, warnings, err := config.Load(config.LoadOptions{ConfigFile: config.NoConfigFile, Environ: env})
		require.NoError(t, err, name)
		assert.Empty(t, warnings, "%s: %v", name, warnings)
	}
	env := BinaryEnv(cfg, []string{"PATH=/usr/bin", "ECS_INIT_AGENT_MODE=binary"})
	assert.Contains(t, env, "PATH=/usr/bin")
	assert.Contains(t, env, "ECS_DATADIR=/var/lib/ecs/data")
	assert.Contains(t, env, "ECS_AUDIT_LOGFILE=/var/log/ecs/audit.log", "beside the agent's log, not in the container's /log")
	assert.Contains(t, env, "ECS_ENABLE_TASK_IAM_ROLE=true")
	assert.Contains(t, env, "ECS_LOGFILE=/var/log/ecs/ecs-agent.log")
	for _, kv := range env {
		assert.False(t, strings.HasPrefix(kv, "ECS_INIT_"), "ecs-init's own settings stay with it: %s", kv)
	}
}

func TestAgentReadsTheJSONFileOnlyWhenPresent(t *testing.T) {
	cfg := defaults(t)
	assert.NotContains(t, strings.Join(AgentEnv(cfg), "\n"), "ECS_AGENT_CONFIG_FILE_PATH")
	writeFileIn(t, cfg.ConfigDir, "ecs.config.json", `{"Cluster":"json"}`)
	cfg, err := Load(LoadOptions{ConfigFile: cfg.ConfigDir + "/ecs.config", InstanceConfigFile: "-"})
	require.NoError(t, err)
	assert.Contains(t, AgentEnv(cfg), "ECS_AGENT_CONFIG_FILE_PATH=/etc/ecs/ecs.config.json")
	assert.Contains(t, BinaryEnv(cfg, nil), "ECS_AGENT_CONFIG_FILE_PATH="+cfg.ConfigDir+"/ecs.config.json")
}
