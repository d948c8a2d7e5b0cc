package config

import (
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// referenceDefaults are the Linux defaults of reference §2.3, written as
// Print shows them. "" is a setting whose default is "unset".
var referenceDefaults = map[string]string{
	"ECS_CLUSTER":                                  "default",
	"AWS_DEFAULT_REGION":                           "",
	"ECS_BACKEND_HOST":                             "",
	"DOCKER_HOST":                                  "unix:///var/run/docker.sock",
	"ECS_DATADIR":                                  "/data/",
	"ECS_CHECKPOINT":                               "false",
	"ECS_HOST_DATA_DIR":                            "/var/lib/ecs",
	"ECS_LOGLEVEL":                                 "info",
	"ECS_LOGLEVEL_ON_INSTANCE":                     "",
	"ECS_LOGFILE":                                  "",
	"ECS_LOG_ROLLOVER_TYPE":                        "size",
	"ECS_LOG_MAX_FILE_SIZE_MB":                     "5",
	"ECS_LOG_MAX_ROLL_COUNT":                       "24",
	"ECS_LOG_OUTPUT_FORMAT":                        "logfmt",
	"ECS_RESERVED_PORTS":                           "[22,2375,2376,51678,51679]",
	"ECS_RESERVED_PORTS_UDP":                       "[]",
	"ECS_RESERVED_MEMORY":                          "0",
	"ECS_AVAILABLE_LOGGING_DRIVERS":                `["json-file","none"]`,
	"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION":        "3h",
	"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER": "0s",
	"ECS_IMAGE_PULL_BEHAVIOR":                      "default",
	"ECS_IMAGE_PULL_TIMEOUT":                       "2h",
	"ECS_IMAGE_PULL_INACTIVITY_TIMEOUT":            "1m",
	"ECS_MANIFEST_PULL_TIMEOUT":                    "1m",
	"ECS_CONTAINER_STOP_TIMEOUT":                   "30s",
	"ECS_CONTAINER_START_TIMEOUT":                  "3m",
	"ECS_CONTAINER_CREATE_TIMEOUT":                 "4m",
	"ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT":        "false",
	"ECS_DISABLE_IMAGE_CLEANUP":                    "false",
	"ECS_IMAGE_CLEANUP_INTERVAL":                   "30m",
	"ECS_IMAGE_MINIMUM_CLEANUP_AGE":                "1h",
	"ECS_NUM_IMAGES_DELETE_PER_CYCLE":              "5",
	"ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP":           "false",
	"NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE":            "1h",
	"NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE":       "5",
	"ECS_EXCLUDE_UNTRACKED_IMAGE":                  "",
	"ECS_ENGINE_AUTH_TYPE":                         "",
	"ECS_ENGINE_AUTH_DATA":                         "",
	"ECS_INSTANCE_ATTRIBUTES":                      "",
	"ECS_CONTAINER_INSTANCE_TAGS":                  "",
	"ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM":   "none",
	"ECS_ENABLE_TASK_IAM_ROLE":                     "false",
	"ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST":        "false",
	"ECS_AUDIT_LOGFILE":                            "/log/audit.log",
	"ECS_AUDIT_LOGFILE_DISABLED":                   "false",
	"ECS_DISABLE_METRICS":                          "false",
	"ECS_POLL_METRICS":                             "false",
	"ECS_POLLING_METRICS_WAIT_DURATION":            "10s",
	"ECS_DISABLE_DOCKER_HEALTH_CHECK":              "false",
	"ECS_ENABLE_GPU_SUPPORT":                       "false",
	"ECS_NVIDIA_RUNTIME":                           "nvidia",
	"ECS_DISABLE_PRIVILEGED":                       "false",
	"ECS_SELINUX_CAPABLE":                          "false",
	"ECS_APPARMOR_CAPABLE":                         "false",
	"ECS_UPDATES_ENABLED":                          "false",
	"ECS_UPDATE_DOWNLOAD_DIR":                      "",
	"ECS_WARM_POOLS_CHECK":                         "false",
	"ECS_ENABLE_SPOT_INSTANCE_DRAINING":            "false",
	"ECS_ENABLE_TASK_CPU_MEM_LIMIT":                "true",
	"ECS_CGROUP_PATH":                              "/sys/fs/cgroup",
	"ECS_CGROUP_CPU_PERIOD":                        "100ms",
	"ECS_TASK_PIDS_LIMIT":                          "0",
	"ECS_ENABLE_CONTAINER_METADATA":                "false",
	"ECS_TASK_METADATA_RPS_LIMIT":                  "40,60",
	"ECS_DISABLE_TASK_METADATA_AZ":                 "false",
	"ECS_SHARED_VOLUME_MATCH_FULL_CONFIG":          "false",
	"ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE":    "false",
	"ECS_EXTERNAL":                                 "false",
	"ECS_ALTERNATE_CREDENTIAL_PROFILE":             "default",
	"ECS_EXCLUDE_IPV6_PORTBINDING":                 "true",
	"ECS_INSTANCE_IP_COMPATIBILITY":                "",
	"ECS_DYNAMIC_HOST_PORT_RANGE":                  "",
	"ECS_ENABLE_RUNTIME_STATS":                     "false",
	"ECS_ENABLE_PROMETHEUS_METRICS":                "false",
	"ECS_VOLUME_PLUGIN_CAPABILITIES":               "[]",
	"ECS_EBSTA_SUPPORTED":                          "true",
	"ECS_ENABLE_FIRELENS_ASYNC":                    "true",
	"ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2":     "false",
	"ECS_ENABLE_INF_SUPPORT":                       "false",
	"ECS_AGENT_CONFIG_FILE_PATH":                   "/etc/ecs_container_agent/config.json",
	"ECS_AGENT_HEALTHCHECK_HOST":                   "localhost",
	"ECS_PAUSE_LABELS":                             "",
	// Ours, not the incumbent's.
	"ECS_INTROSPECTION_ADDR":    "127.0.0.1:51678",
	"ECS_TASK_METADATA_ADDR":    "127.0.0.1:51679",
	"ECS_MAX_CONCURRENT_STARTS": strconv.Itoa(4 * runtime.NumCPU()),
}

func TestDefaultsMatchReference(t *testing.T) {
	c := Default()
	seen := map[string]bool{}
	for _, s := range settings {
		seen[s.key] = true
		want, ok := referenceDefaults[s.key]
		if assert.True(t, ok, "%s is not in the reference defaults of this test", s.key) {
			assert.Equal(t, want, s.codec.format(c), s.key)
		}
	}
	for k := range referenceDefaults {
		assert.True(t, seen[k], "reference setting %s is missing from the table", k)
	}
	// Spot checks of typed values.
	assert.Equal(t, "default", c.Cluster)
	assert.Equal(t, 3*time.Hour, c.TaskCleanupWaitDuration)
	assert.Equal(t, []uint16{22, 2375, 2376, 51678, 51679}, c.ReservedPorts)
	assert.Equal(t, []uint16{}, c.ReservedPortsUDP)
	assert.Equal(t, 5.0, c.LogMaxFileSizeMB)
	assert.True(t, c.TaskCPUMemLimit)
	assert.False(t, c.AcceptInsecureCert)
}

// TestTableCoversConfig keeps the table and the struct in step: every field
// but AcceptInsecureCert (the -k flag) belongs to exactly one setting.
func TestTableCoversConfig(t *testing.T) {
	typ := reflect.TypeOf(Config{})
	owner := map[string]string{}
	for _, s := range settings {
		for _, f := range s.fields {
			_, ok := typ.FieldByName(f)
			assert.True(t, ok, "%s: Config has no field %s", s.key, f)
			assert.Empty(t, owner[f], "field %s claimed by %s and %s", f, owner[f], s.key)
			owner[f] = s.key
		}
	}
	owner["AgentConfigFilePath"] = "ECS_AGENT_CONFIG_FILE_PATH" // deliberately not settable from JSON
	owner["AcceptInsecureCert"] = "-k"
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.IsExported() {
			assert.NotEmpty(t, owner[f.Name], "Config.%s has no setting", f.Name)
		}
	}
}

func TestTableIsWellFormed(t *testing.T) {
	names := map[string]bool{}
	for _, s := range settings {
		for _, n := range append([]string{s.key}, s.aliases...) {
			assert.False(t, names[n], "duplicate name %s", n)
			names[n] = true
			_, ignored := ignoredKeys[n]
			assert.False(t, ignored, "%s is both a setting and ignored", n)
		}
		assert.NotEmpty(t, s.help, s.key)
		assert.NotEmpty(t, s.codec.expect(), s.key)
		assert.NotEmpty(t, s.codec.typ(), s.key)
		assert.Equal(t, logging.IsSecretKey(s.key), s.secret, "%s: secret flag disagrees with logging.IsSecretKey", s.key)
		assert.False(t, strings.ContainsAny(s.help, "|\n"), "%s: help must fit a markdown table cell", s.key)
	}
}

// TestSupportedSettings pins the settings the agent acts on today, so that
// flipping a flag is a deliberate, reviewed change.
func TestSupportedSettings(t *testing.T) {
	var got []string
	for _, s := range settings {
		if s.supported {
			got = append(got, s.key)
		}
	}
	assert.ElementsMatch(t, []string{
		"ECS_CLUSTER", "AWS_DEFAULT_REGION", "ECS_BACKEND_HOST", "DOCKER_HOST", "ECS_DATADIR", "ECS_CHECKPOINT",
		"ECS_RESERVED_PORTS", "ECS_RESERVED_PORTS_UDP", "ECS_RESERVED_MEMORY", "ECS_INSTANCE_ATTRIBUTES",
		"ECS_CONTAINER_INSTANCE_TAGS", "ECS_INTROSPECTION_ADDR", "ECS_AGENT_CONFIG_FILE_PATH", "ECS_LOGLEVEL",
		"ECS_LOGFILE", "ECS_LOG_ROLLOVER_TYPE", "ECS_LOG_MAX_FILE_SIZE_MB", "ECS_LOG_MAX_ROLL_COUNT",
		"ECS_LOG_OUTPUT_FORMAT", "ECS_AGENT_HEALTHCHECK_HOST",
		// Acted on by the task engine and the image manager.
		"ECS_MAX_CONCURRENT_STARTS", "ECS_IMAGE_PULL_BEHAVIOR", "ECS_IMAGE_PULL_TIMEOUT",
		"ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "ECS_ENGINE_AUTH_TYPE", "ECS_ENGINE_AUTH_DATA",
		"ECS_CONTAINER_STOP_TIMEOUT", "ECS_CONTAINER_START_TIMEOUT", "ECS_CONTAINER_CREATE_TIMEOUT",
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER",
		"ECS_DYNAMIC_HOST_PORT_RANGE", "ECS_AVAILABLE_LOGGING_DRIVERS", "ECS_DISABLE_PRIVILEGED",
		"ECS_DISABLE_IMAGE_CLEANUP", "ECS_IMAGE_CLEANUP_INTERVAL", "ECS_IMAGE_MINIMUM_CLEANUP_AGE",
		"ECS_NUM_IMAGES_DELETE_PER_CYCLE", "ECS_EXCLUDE_UNTRACKED_IMAGE",
		// Acted on by registration: the health-check capability is not advertised.
		"ECS_DISABLE_DOCKER_HEALTH_CHECK",
		// Acted on by the task metadata endpoint, task IAM roles and task cgroups.
		"ECS_TASK_METADATA_ADDR", "ECS_ENABLE_TASK_IAM_ROLE", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST",
		"ECS_AUDIT_LOGFILE", "ECS_AUDIT_LOGFILE_DISABLED", "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "ECS_CGROUP_PATH",
		"ECS_CGROUP_CPU_PERIOD", "ECS_ENABLE_CONTAINER_METADATA", "ECS_TASK_METADATA_RPS_LIMIT",
		"ECS_DISABLE_TASK_METADATA_AZ", "ECS_HOST_DATA_DIR",
		// Acted on by the stats collector, TCS and the Prometheus server.
		"ECS_DISABLE_METRICS", "ECS_POLL_METRICS", "ECS_POLLING_METRICS_WAIT_DURATION", "ECS_ENABLE_PROMETHEUS_METRICS",
	}, got)
}

func TestDefaultsParse(t *testing.T) {
	require.NotPanics(t, func() { Default() })
}

func TestSourceOfHandBuiltConfig(t *testing.T) {
	var c Config
	assert.Equal(t, SourceDefault, c.Source("ECS_CLUSTER"))
}
