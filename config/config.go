package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Config is the agent's effective configuration. Field names follow the
// incumbent agent, so its JSON configuration files keep working.
type Config struct {
	// Identity and endpoints.
	Cluster              string // ECS_CLUSTER
	AWSRegion            string // AWS_DEFAULT_REGION, or AWS_REGION
	APIEndpoint          string // ECS_BACKEND_HOST; "" = SDK default; https:// added when no scheme is given
	DockerEndpoint       string // DOCKER_HOST
	IntrospectionAddr    string // ECS_INTROSPECTION_ADDR (ours)
	TaskMetadataAddr     string // ECS_TASK_METADATA_ADDR (ours)
	AgentHealthcheckHost string // ECS_AGENT_HEALTHCHECK_HOST
	AgentConfigFilePath  string // ECS_AGENT_CONFIG_FILE_PATH
	External             bool   // ECS_EXTERNAL
	// AcceptInsecureCert is set by the agent's -k flag only; no setting feeds it.
	AcceptInsecureCert         bool
	AlternateCredentialProfile string // ECS_ALTERNATE_CREDENTIAL_PROFILE

	// State.
	DataDir       string // ECS_DATADIR
	DataDirOnHost string // ECS_HOST_DATA_DIR
	Checkpoint    bool   // ECS_CHECKPOINT; defaults to true when ECS_DATADIR is set

	// Logging.
	LogLevel           string  // ECS_LOGLEVEL
	LogLevelOnInstance string  // ECS_LOGLEVEL_ON_INSTANCE; "" = LogLevel
	LogFile            string  // ECS_LOGFILE
	LogRolloverType    string  // ECS_LOG_ROLLOVER_TYPE
	LogMaxFileSizeMB   float64 // ECS_LOG_MAX_FILE_SIZE_MB
	LogMaxRollCount    int     // ECS_LOG_MAX_ROLL_COUNT
	LogOutputFormat    string  // ECS_LOG_OUTPUT_FORMAT

	// Registration and host resources.
	ReservedPorts                      []uint16          // ECS_RESERVED_PORTS
	ReservedPortsUDP                   []uint16          // ECS_RESERVED_PORTS_UDP
	ReservedMemory                     uint16            // ECS_RESERVED_MEMORY, MiB
	InstanceAttributes                 map[string]string // ECS_INSTANCE_ATTRIBUTES
	ContainerInstanceTags              map[string]string // ECS_CONTAINER_INSTANCE_TAGS
	ContainerInstancePropagateTagsFrom string            // ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM
	AvailableLoggingDrivers            []string          // ECS_AVAILABLE_LOGGING_DRIVERS
	DynamicHostPortRange               string            // ECS_DYNAMIC_HOST_PORT_RANGE, "start-end"; "" = from the kernel
	InstanceIPCompatibility            string            // ECS_INSTANCE_IP_COMPATIBILITY; "" = detect
	ShouldExcludeIPv6PortBinding       bool              // ECS_EXCLUDE_IPV6_PORTBINDING
	WarmPoolsSupport                   bool              // ECS_WARM_POOLS_CHECK
	SpotInstanceDrainingEnabled        bool              // ECS_ENABLE_SPOT_INSTANCE_DRAINING

	// Task engine timeouts and cleanup.
	TaskCleanupWaitDuration             time.Duration     // ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION
	TaskCleanupWaitDurationJitter       time.Duration     // ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER
	ImagePullBehavior                   string            // ECS_IMAGE_PULL_BEHAVIOR
	ImagePullTimeout                    time.Duration     // ECS_IMAGE_PULL_TIMEOUT
	ImagePullInactivityTimeout          time.Duration     // ECS_IMAGE_PULL_INACTIVITY_TIMEOUT
	ManifestPullTimeout                 time.Duration     // ECS_MANIFEST_PULL_TIMEOUT
	DockerStopTimeout                   time.Duration     // ECS_CONTAINER_STOP_TIMEOUT
	ContainerStartTimeout               time.Duration     // ECS_CONTAINER_START_TIMEOUT
	ContainerCreateTimeout              time.Duration     // ECS_CONTAINER_CREATE_TIMEOUT
	MaxConcurrentStarts                 int               // ECS_MAX_CONCURRENT_STARTS (ours): bounds concurrent pulls and creates/starts
	DependentContainersPullUpfront      bool              // ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT
	ImageCleanupDisabled                bool              // ECS_DISABLE_IMAGE_CLEANUP
	ImageCleanupInterval                time.Duration     // ECS_IMAGE_CLEANUP_INTERVAL
	MinimumImageDeletionAge             time.Duration     // ECS_IMAGE_MINIMUM_CLEANUP_AGE
	NumImagesToDeletePerCycle           int               // ECS_NUM_IMAGES_DELETE_PER_CYCLE
	DeleteNonECSImagesEnabled           bool              // ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP
	NonECSMinimumImageDeletionAge       time.Duration     // NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE
	NumNonECSContainersToDeletePerCycle int               // NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE
	ImageCleanupExclusionList           []string          // ECS_EXCLUDE_UNTRACKED_IMAGE
	SharedVolumeMatchFullConfig         bool              // ECS_SHARED_VOLUME_MATCH_FULL_CONFIG
	PauseContainerLabels                map[string]string // ECS_PAUSE_LABELS

	// Registry authentication.
	EngineAuthType string // ECS_ENGINE_AUTH_TYPE: docker or dockercfg
	EngineAuthData Secret // ECS_ENGINE_AUTH_DATA (JSON)

	// Capabilities and features.
	TaskIAMRoleEnabled               bool          // ECS_ENABLE_TASK_IAM_ROLE
	TaskIAMRoleEnabledForNetworkHost bool          // ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST
	CredentialsAuditLogFile          string        // ECS_AUDIT_LOGFILE
	CredentialsAuditLogDisabled      bool          // ECS_AUDIT_LOGFILE_DISABLED
	DisableMetrics                   bool          // ECS_DISABLE_METRICS
	PollMetrics                      bool          // ECS_POLL_METRICS
	PollingMetricsWaitDuration       time.Duration // ECS_POLLING_METRICS_WAIT_DURATION
	DisableDockerHealthCheck         bool          // ECS_DISABLE_DOCKER_HEALTH_CHECK
	GPUSupportEnabled                bool          // ECS_ENABLE_GPU_SUPPORT
	NvidiaRuntime                    string        // ECS_NVIDIA_RUNTIME
	InferentiaSupportEnabled         bool          // ECS_ENABLE_INF_SUPPORT
	PrivilegedDisabled               bool          // ECS_DISABLE_PRIVILEGED
	SELinuxCapable                   bool          // ECS_SELINUX_CAPABLE
	AppArmorCapable                  bool          // ECS_APPARMOR_CAPABLE
	UpdatesEnabled                   bool          // ECS_UPDATES_ENABLED
	UpdateDownloadDir                string        // ECS_UPDATE_DOWNLOAD_DIR
	TaskCPUMemLimit                  bool          // ECS_ENABLE_TASK_CPU_MEM_LIMIT
	CgroupPath                       string        // ECS_CGROUP_PATH
	CgroupCPUPeriod                  time.Duration // ECS_CGROUP_CPU_PERIOD
	TaskPidsLimit                    int           // ECS_TASK_PIDS_LIMIT; 0 = unset
	ContainerMetadataEnabled         bool          // ECS_ENABLE_CONTAINER_METADATA
	TaskMetadataSteadyStateRate      int           // ECS_TASK_METADATA_RPS_LIMIT, first number
	TaskMetadataBurstRate            int           // ECS_TASK_METADATA_RPS_LIMIT, second number
	TaskMetadataAZDisabled           bool          // ECS_DISABLE_TASK_METADATA_AZ
	OverrideAWSLogsExecutionRole     bool          // ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE
	EnableRuntimeStats               bool          // ECS_ENABLE_RUNTIME_STATS
	PrometheusMetricsEnabled         bool          // ECS_ENABLE_PROMETHEUS_METRICS
	VolumePluginCapabilities         []string      // ECS_VOLUME_PLUGIN_CAPABILITIES
	EBSTASupportEnabled              bool          // ECS_EBSTA_SUPPORTED
	FirelensAsyncEnabled             bool          // ECS_ENABLE_FIRELENS_ASYNC
	PropagateTaskMemoryLimitCgroupV2 bool          // ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2

	// sources records where each setting's value came from, by setting name.
	sources map[string]string
}

// Source names used by Config.Source and Print.
const (
	SourceDefault     = "default"
	SourceEnvironment = "environment"
)

// Source reports where the setting named key (e.g. "ECS_CLUSTER") got its
// value: "default", "environment", "<file>:<line>" for the KEY=VALUE file, or
// the JSON file's path.
func (c *Config) Source(key string) string {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return SourceDefault
}

// Secret holds a sensitive value. Printing, formatting, logging or
// JSON-encoding it yields "<redacted>"; call Value to use it.
type Secret struct{ v string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v: v} }

// Value returns the secret itself.
func (s Secret) Value() string { return s.v }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.v != "" }

func (s Secret) String() string   { return s.redacted() }
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.redacted()) }

// Format covers every fmt verb, including %v on a struct that contains a Secret.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.redacted())) }

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalJSON keeps the secret out of JSON dumps of a Config.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

func (s Secret) redacted() string {
	if s.v == "" {
		return ""
	}
	return logging.Redacted
}
