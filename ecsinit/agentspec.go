package ecsinit

import (
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/config"
)

// StopTimeout is how long the agent gets to stop after SIGTERM before it
// is killed: its shutdown waits at most 15 s for task workers and 3 s for
// each other component. Units give ecs-init stop more than this.
const StopTimeout = 30 * time.Second

// Paths inside the agent container.
const (
	containerLogDir  = "/log"
	containerDataDir = "/data"
	containerConfDir = "/etc/ecs"
	defaultSocketDir = "/var/run"
)

// loggingDrivers are the Docker log drivers ecs-init advertises for tasks,
// as the incumbent's ecs-init does.
const loggingDrivers = `["json-file","syslog","awslogs","fluentd","none"]`

// ContainerSpec is the agent container ecs-init creates.
type ContainerSpec struct {
	Name, Image string
	Cmd         []string
	Env         []string // KEY=VALUE, sorted
	Binds       []string // host:container[:ro]
	CapAdd      []string
	Labels      map[string]string
	LogDriver   string
	LogOptions  map[string]string
	SecurityOpt []string
	PIDHost     bool
	StopTimeout time.Duration
}

// agentArgs: ecs-init passes the configuration files' settings in the
// environment, as the incumbent's ecs-init does (so keys and proxies in
// ecs.config reach the agent); the agent must not read the file a second
// time, which would repeat its warnings and report those keys as ignored.
var agentArgs = []string{"-config", config.NoConfigFile}

// introspectionAddr keeps the introspection API on loopback unless
// off-host access is allowed, whatever the agent's own default is.
func introspectionAddr(cfg *Config) string {
	host := "127.0.0.1"
	if cfg.AllowOffhostIntrospection {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, strconv.Itoa(cfg.IntrospectionPort))
}

// taskRoleEnv turns task IAM roles on, as the incumbent's ecs-init does:
// pre-start has set up the rules that bring 169.254.170.2 to the agent.
var taskRoleEnv = map[string]string{
	"ECS_ENABLE_TASK_IAM_ROLE":              "true",
	"ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST": "true",
}

// AgentEnv is the agent's environment in container mode: ecs-init's
// defaults for a containerised agent, overridden by the user's settings.
func AgentEnv(cfg *Config) []string {
	env := map[string]string{
		"ECS_LOGFILE":                   containerLogDir + "/ecs-agent.log",
		"ECS_DATADIR":                   containerDataDir,
		"ECS_HOST_DATA_DIR":             cfg.HostDataDir, // where /data is on the host, for bind mounts into tasks
		"ECS_INTROSPECTION_ADDR":        introspectionAddr(cfg),
		"ECS_AVAILABLE_LOGGING_DRIVERS": loggingDrivers,
	}
	maps.Copy(env, taskRoleEnv)
	if cfg.JSONConfig {
		env["ECS_AGENT_CONFIG_FILE_PATH"] = containerConfDir + "/" + jsonConfigFile
	}
	maps.Copy(env, cfg.Agent)
	return envList(env)
}

// AgentContainer is the container spec of §1.3 of the reference: host
// network and user namespace, an init process, the Docker socket, the log,
// data, configuration and cache directories, and a bounded json-file log.
func AgentContainer(cfg *Config) ContainerSpec {
	socket := defaultSocketDir // the directory, so the socket survives a dockerd restart
	if p, ok := strings.CutPrefix(cfg.DockerHost, "unix://"); ok {
		socket = p
	}
	spec := ContainerSpec{
		Name:  cfg.ContainerName,
		Image: cfg.Image,
		Cmd:   agentArgs,
		Env:   AgentEnv(cfg),
		Binds: []string{
			socket + ":" + socket,
			cfg.LogDir + ":" + containerLogDir,
			filepath.Join(cfg.HostDataDir, "data") + ":" + containerDataDir,
			cfg.ConfigDir + ":" + containerConfDir + ":ro",
			cfg.CacheDir + ":" + DefaultCacheDir,
			cfg.HostDataDir + ":" + DefaultHostDataDir,
			// Read-write: the agent creates the cgroups of tasks with
			// task-level cpu and memory.
			"/sys/fs/cgroup:/sys/fs/cgroup",
			"/proc:/host/proc:ro",
		},
		CapAdd:      []string{"NET_ADMIN", "SYS_ADMIN"},
		Labels:      cfg.Labels,
		LogDriver:   cfg.LogDriver,
		LogOptions:  cfg.LogOptions,
		PIDHost:     cfg.PIDHost,
		StopTimeout: StopTimeout,
	}
	if spec.LogDriver == "json-file" && spec.LogOptions == nil {
		spec.LogOptions = map[string]string{
			"max-size": strconv.Itoa(cfg.LogFileSizeMiB) + "m",
			"max-file": strconv.Itoa(cfg.LogFileCount),
		}
	}
	if cfg.AppArmorProfile != "" {
		spec.SecurityOpt = []string{"apparmor=" + cfg.AppArmorProfile}
	}
	return spec
}

// BinaryEnv is the agent's environment in binary mode: ecs-init's own
// environment without its own settings, host paths for the agent's files,
// and the user's settings on top.
func BinaryEnv(cfg *Config, environ []string) []string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && !initOnly[k] {
			env[k] = v
		}
	}
	maps.Copy(env, map[string]string{
		"ECS_LOGFILE":                   filepath.Join(cfg.LogDir, "ecs-agent.log"),
		"ECS_DATADIR":                   filepath.Join(cfg.HostDataDir, "data"),
		"ECS_INTROSPECTION_ADDR":        introspectionAddr(cfg),
		"ECS_AVAILABLE_LOGGING_DRIVERS": loggingDrivers,
		"ECS_AUDIT_LOGFILE":             filepath.Join(cfg.LogDir, "audit.log"),
	})
	maps.Copy(env, taskRoleEnv)
	if cfg.JSONConfig {
		env["ECS_AGENT_CONFIG_FILE_PATH"] = filepath.Join(cfg.ConfigDir, jsonConfigFile)
	}
	maps.Copy(env, cfg.Agent)
	return envList(env)
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
