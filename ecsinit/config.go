package ecsinit

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/config"
)

// Default paths, as Amazon Linux's ecs-init uses them.
const (
	DefaultConfigFile         = "/etc/ecs/ecs.config"
	DefaultInstanceConfigFile = "/var/lib/ecs/ecs.config"
	DefaultImage              = "open-ecs/ecs-agent:latest"
	DefaultContainerName      = "ecs-agent"
	DefaultAgentBinary        = "/usr/bin/ecs-agent"
	DefaultCacheDir           = "/var/cache/ecs"
	DefaultLogDir             = "/var/log/ecs"
	DefaultHostDataDir        = "/var/lib/ecs"
	DefaultRunDir             = "/run/ecs-init"
	// ImageTarball is the file in the cache directory that holds the agent
	// image for hosts without a registry (the packages install it).
	ImageTarball = "ecs-agent.tar"

	defaultIntrospectionPort = 51678
	jsonConfigFile           = "ecs.config.json"
)

// Modes of running the agent.
const (
	ModeContainer = "container" // the agent image as the container ecs-agent (default)
	ModeBinary    = "binary"    // the ecs-agent binary as a child process
)

// Config is ecs-init's configuration: its own settings, and the settings it
// passes to the agent.
type Config struct {
	Mode          string // ECS_INIT_AGENT_MODE
	Image         string // ECS_INIT_AGENT_IMAGE
	ContainerName string // ECS_INIT_CONTAINER_NAME
	AgentBinary   string // ECS_INIT_AGENT_BINARY
	CacheDir      string // ECS_INIT_CACHE_DIR: holds ecs-agent.tar
	LogDir        string // ECS_INIT_LOG_DIR: the agent's log directory on the host
	RunDir        string // ECS_INIT_RUN_DIR: the agent's pid file in binary mode
	HostDataDir   string // ECS_HOST_DATA_DIR: the agent's state is in <it>/data
	ConfigDir     string // the directory of the configuration file, mounted at /etc/ecs
	// JSONConfig is true when ConfigDir holds ecs.config.json, the agent's
	// JSON configuration, which the agent is then told to read.
	JSONConfig bool
	DockerHost string // DOCKER_HOST

	AllowOffhostIntrospection     bool   // ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS
	SkipLocalhostFilter           bool   // ECS_SKIP_LOCALHOST_TRAFFIC_FILTER
	OffhostIntrospectionInterface string // ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME
	IntrospectionPort             int    // the port of ECS_INTROSPECTION_ADDR, 51678 by default

	LogDriver       string            // ECS_LOG_DRIVER: the agent container's Docker log driver
	LogOptions      map[string]string // ECS_LOG_OPTS
	LogFileSizeMiB  int               // ECS_INIT_DOCKER_LOG_FILE_SIZE (json-file max-size)
	LogFileCount    int               // ECS_INIT_DOCKER_LOG_FILE_NUM (json-file max-file)
	Labels          map[string]string // ECS_AGENT_LABELS
	AppArmorProfile string            // ECS_AGENT_APPARMOR_PROFILE
	PIDHost         bool              // ECS_AGENT_PID_NAMESPACE_HOST

	// Agent holds the settings passed to the agent: the configuration
	// files' and the ECS_/AWS_/proxy variables of ecs-init's environment,
	// without the ones only ecs-init reads.
	Agent map[string]string
}

// initOnly are the settings ecs-init reads and does not pass to the agent.
var initOnly = map[string]bool{
	"ECS_INIT_AGENT_MODE": true, "ECS_INIT_AGENT_IMAGE": true, "ECS_INIT_CONTAINER_NAME": true,
	"ECS_INIT_AGENT_BINARY": true, "ECS_INIT_CACHE_DIR": true, "ECS_INIT_LOG_DIR": true, "ECS_INIT_RUN_DIR": true,
	"ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS": true, "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER": true,
	"ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME": true, "ECS_LOG_DRIVER": true, "ECS_LOG_OPTS": true,
	"ECS_INIT_DOCKER_LOG_FILE_SIZE": true, "ECS_INIT_DOCKER_LOG_FILE_NUM": true, "ECS_AGENT_LABELS": true,
	"ECS_AGENT_APPARMOR_PROFILE": true, "ECS_AGENT_PID_NAMESPACE_HOST": true,
}

// passedFromEnvironment reports whether a variable of ecs-init's own
// environment is a setting for the agent.
func passedFromEnvironment(k string) bool {
	switch k {
	case "DOCKER_HOST", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy":
		return true
	}
	return strings.HasPrefix(k, "ECS_") || strings.HasPrefix(k, "AWS_")
}

// LoadOptions say where the settings come from.
type LoadOptions struct {
	ConfigFile         string   // DefaultConfigFile when empty
	InstanceConfigFile string   // DefaultInstanceConfigFile when empty; "-" reads none
	Environ            []string // os.Environ() form
}

// Load reads the instance file (/var/lib/ecs/ecs.config, lowest), the user
// file (/etc/ecs/ecs.config) and the environment (highest), each with the
// agent's own KEY=VALUE syntax, as the incumbent's ecs-init layers them.
func Load(o LoadOptions) (*Config, error) {
	if o.ConfigFile == "" {
		o.ConfigFile = DefaultConfigFile
	}
	if o.InstanceConfigFile == "" {
		o.InstanceConfigFile = DefaultInstanceConfigFile
	}
	merged := map[string]string{}
	files := []string{o.ConfigFile}
	if o.InstanceConfigFile != "-" {
		files = []string{o.InstanceConfigFile, o.ConfigFile}
	}
	for _, f := range files {
		kv, err := config.ReadSettingsFile(f, false)
		if err != nil {
			return nil, err
		}
		for k, v := range kv {
			merged[k] = v
		}
	}
	for _, kv := range o.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && passedFromEnvironment(k) {
			merged[k] = v
		}
	}
	return parse(merged, filepath.Dir(o.ConfigFile))
}

// settings reads typed values out of the merged map, collecting the first
// bad one as an error that names the setting and what it accepts.
type settings struct {
	m   map[string]string
	err error
}

func (s *settings) str(key, def string) string {
	if v := strings.TrimSpace(s.m[key]); v != "" {
		return v
	}
	return def
}

func (s *settings) fail(key, want string) {
	if s.err == nil {
		s.err = fmt.Errorf("%s=%q: expected %s", key, s.m[key], want)
	}
}

func (s *settings) boolean(key string) bool {
	v := strings.TrimSpace(s.m[key])
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		s.fail(key, "true or false")
	}
	return b
}

func (s *settings) positive(key string, def int) int {
	v := strings.TrimSpace(s.m[key])
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		s.fail(key, "a positive integer")
	}
	return n
}

func (s *settings) object(key string) map[string]string {
	v := strings.TrimSpace(s.m[key])
	if v == "" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		s.fail(key, `a JSON object of strings, like {"key":"value"}`)
	}
	return m
}

func (s *settings) path(key, def string) string {
	v := s.str(key, def)
	if !filepath.IsAbs(v) {
		s.fail(key, "an absolute path")
	}
	return v
}

func parse(m map[string]string, configDir string) (*Config, error) {
	s := &settings{m: m}
	c := &Config{
		Mode:                          strings.ToLower(s.str("ECS_INIT_AGENT_MODE", ModeContainer)),
		Image:                         s.str("ECS_INIT_AGENT_IMAGE", DefaultImage),
		ContainerName:                 s.str("ECS_INIT_CONTAINER_NAME", DefaultContainerName),
		AgentBinary:                   s.path("ECS_INIT_AGENT_BINARY", DefaultAgentBinary),
		CacheDir:                      s.path("ECS_INIT_CACHE_DIR", DefaultCacheDir),
		LogDir:                        s.path("ECS_INIT_LOG_DIR", DefaultLogDir),
		RunDir:                        s.path("ECS_INIT_RUN_DIR", DefaultRunDir),
		HostDataDir:                   s.path("ECS_HOST_DATA_DIR", DefaultHostDataDir),
		ConfigDir:                     configDir,
		DockerHost:                    s.str("DOCKER_HOST", ""),
		AllowOffhostIntrospection:     s.boolean("ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS"),
		SkipLocalhostFilter:           s.boolean("ECS_SKIP_LOCALHOST_TRAFFIC_FILTER"),
		OffhostIntrospectionInterface: s.str("ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME", ""),
		IntrospectionPort:             defaultIntrospectionPort,
		LogDriver:                     s.str("ECS_LOG_DRIVER", "json-file"),
		LogOptions:                    s.object("ECS_LOG_OPTS"),
		LogFileSizeMiB:                s.positive("ECS_INIT_DOCKER_LOG_FILE_SIZE", 16),
		LogFileCount:                  s.positive("ECS_INIT_DOCKER_LOG_FILE_NUM", 4),
		Labels:                        s.object("ECS_AGENT_LABELS"),
		AppArmorProfile:               s.str("ECS_AGENT_APPARMOR_PROFILE", ""),
		PIDHost:                       s.boolean("ECS_AGENT_PID_NAMESPACE_HOST"),
		Agent:                         map[string]string{},
	}
	if c.Mode != ModeContainer && c.Mode != ModeBinary {
		s.fail("ECS_INIT_AGENT_MODE", ModeContainer+" or "+ModeBinary)
	}
	if addr := s.str("ECS_INTROSPECTION_ADDR", ""); addr != "" {
		_, p, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			s.fail("ECS_INTROSPECTION_ADDR", "host:port")
		}
		c.IntrospectionPort = n
	}
	if h := c.DockerHost; h != "" && !strings.Contains(h, "://") {
		s.fail("DOCKER_HOST", "a Docker endpoint URL, like unix:///var/run/docker.sock")
	}
	if s.err != nil {
		return nil, s.err
	}
	if _, err := os.Stat(filepath.Join(configDir, jsonConfigFile)); err == nil {
		c.JSONConfig = true
	}
	for k, v := range m {
		if !initOnly[k] {
			c.Agent[k] = v
		}
	}
	return c, nil
}
