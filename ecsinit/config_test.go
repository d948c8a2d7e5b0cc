package ecsinit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ecs.config")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// TestLoadLayers: the instance file is overridden by the user's file, which
// the environment overrides; the agent's syntax (comments, quotes) applies.
func TestLoadLayers(t *testing.T) {
	instance := writeConfig(t, "ECS_CLUSTER=from-instance\nECS_LOGLEVEL=warn\nECS_RESERVED_MEMORY=64\n")
	user := writeConfig(t, "# the user's settings\nECS_CLUSTER='from-user'  # quoted\nECS_LOGLEVEL=debug\n"+
		"ECS_INIT_AGENT_IMAGE=registry.example/agent:1\nAWS_ACCESS_KEY_ID=AKIAUSER\n")
	cfg, err := Load(LoadOptions{ConfigFile: user, InstanceConfigFile: instance,
		Environ: []string{"ECS_LOGLEVEL=error", "PATH=/bin", "HTTPS_PROXY=http://proxy:3128"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"ECS_CLUSTER": "from-user", "ECS_LOGLEVEL": "error", "ECS_RESERVED_MEMORY": "64",
		"AWS_ACCESS_KEY_ID": "AKIAUSER", "HTTPS_PROXY": "http://proxy:3128",
	}, cfg.Agent, "ecs-init's own settings and unrelated variables are not passed on")
	assert.Equal(t, "registry.example/agent:1", cfg.Image)
	assert.Equal(t, filepath.Dir(user), cfg.ConfigDir)
	assert.Equal(t, ModeContainer, cfg.Mode)
	assert.Equal(t, 51678, cfg.IntrospectionPort)
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(LoadOptions{ConfigFile: filepath.Join(t.TempDir(), "missing"), InstanceConfigFile: "-"})
	require.NoError(t, err, "missing files are no error: the defaults apply")
	assert.Equal(t, DefaultImage, cfg.Image)
	assert.Equal(t, DefaultContainerName, cfg.ContainerName)
	assert.Equal(t, DefaultCacheDir, cfg.CacheDir)
	assert.Equal(t, 16, cfg.LogFileSizeMiB)
	assert.Equal(t, 4, cfg.LogFileCount)
}

func TestLoadRefusesBadValues(t *testing.T) {
	for setting, want := range map[string]string{
		"ECS_INIT_AGENT_MODE=vm":                     "container or binary",
		"ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=yes": "true or false",
		"ECS_AGENT_LABELS=[1]":                       "JSON object",
		"ECS_INIT_DOCKER_LOG_FILE_NUM=0":             "positive integer",
		"ECS_INIT_CACHE_DIR=cache":                   "absolute path",
		"ECS_INTROSPECTION_ADDR=51678":               "host:port",
		"DOCKER_HOST=/var/run/docker.sock":           "Docker endpoint URL",
	} {
		_, err := Load(LoadOptions{ConfigFile: writeConfig(t, setting+"\n"), InstanceConfigFile: "-"})
		if assert.Error(t, err, setting) {
			key, _, _ := cut(setting)
			assert.Contains(t, err.Error(), key)
			assert.Contains(t, err.Error(), want)
		}
	}
	_, err := Load(LoadOptions{ConfigFile: writeConfig(t, "ECS_CLUSTER=a\nno equals sign\n"), InstanceConfigFile: "-"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), ":2", "a malformed line is named by its number")
}

func cut(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func writeFileIn(t *testing.T, dir, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
}

// TestInitOnlyKeysAreKnownToTheAgent: the agent, reading the same
// /etc/ecs/ecs.config when run without ecs-init, says these belong to
// ecs-init rather than calling them unknown.
func TestInitOnlyKeysAreKnownToTheAgent(t *testing.T) {
	for k := range initOnly {
		_, warnings, err := config.Load(config.LoadOptions{ConfigFile: config.NoConfigFile, Environ: []string{k + "=x"}})
		require.NoError(t, err)
		if assert.Len(t, warnings, 1, k) {
			assert.Contains(t, warnings[0].Message, "read by ecs-init", k)
		}
	}
}
