package store

import "time"

// Network modes a task definition may name. Only bridge, host and none can
// run here; awsvpc is spelled out so that it can be rejected by name.
const (
	NetworkModeBridge = "bridge"
	NetworkModeHost   = "host"
	NetworkModeNone   = "none"
	NetworkModeAWSVPC = "awsvpc"
)

// Dependency conditions of ContainerDependency.Condition.
const (
	ConditionStart    = "START"
	ConditionComplete = "COMPLETE"
	ConditionSuccess  = "SUCCESS"
	ConditionHealthy  = "HEALTHY"
)

// TaskDefinition is one registered revision of a task definition family,
// keyed by Family and Revision. JSON tags are the ECS API member names so
// the API layer can return it as it is, except for two things the API layer
// handles: the timestamps, which ECS sends as epoch seconds, and Tags, which
// ECS sends next to the task definition rather than inside it.
//
// Pointers mark the members where ECS tells "not set" from zero (its boxed
// types); CPU and Memory are strings as in the ECS API ("1 vCPU", "512").
type TaskDefinition struct {
	ARN                     string                `json:"taskDefinitionArn"`
	Family                  string                `json:"family"`
	Revision                int                   `json:"revision"`
	Status                  string                `json:"status"` // ACTIVE, INACTIVE or DELETE_IN_PROGRESS
	ContainerDefinitions    []ContainerDefinition `json:"containerDefinitions"`
	Volumes                 []Volume              `json:"volumes"`
	NetworkMode             string                `json:"networkMode,omitempty"`
	PIDMode                 string                `json:"pidMode,omitempty"`
	IPCMode                 string                `json:"ipcMode,omitempty"`
	CPU                     string                `json:"cpu,omitempty"`
	Memory                  string                `json:"memory,omitempty"`
	TaskRoleARN             string                `json:"taskRoleArn,omitempty"`
	ExecutionRoleARN        string                `json:"executionRoleArn,omitempty"`
	RequiresAttributes      []Attribute           `json:"requiresAttributes"`
	PlacementConstraints    []PlacementConstraint `json:"placementConstraints"`
	Compatibilities         []string              `json:"compatibilities"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities,omitempty"`
	RuntimePlatform         *RuntimePlatform      `json:"runtimePlatform,omitempty"`
	RegisteredAt            time.Time             `json:"registeredAt,omitzero"`
	DeregisteredAt          time.Time             `json:"deregisteredAt,omitzero"`
	RegisteredBy            string                `json:"registeredBy,omitempty"`
	Tags                    []Tag                 `json:"tags,omitempty"`
}

// Container returns the container definition called name.
func (td TaskDefinition) Container(name string) (ContainerDefinition, bool) {
	for _, c := range td.ContainerDefinitions {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerDefinition{}, false
}

// RuntimePlatform is the OS and CPU architecture a task definition is for.
type RuntimePlatform struct {
	CPUArchitecture       string `json:"cpuArchitecture,omitempty"`       // X86_64 or ARM64
	OperatingSystemFamily string `json:"operatingSystemFamily,omitempty"` // LINUX here
}

// PlacementConstraint is a task definition placement constraint (memberOf).
type PlacementConstraint struct {
	Type       string `json:"type,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// ContainerDefinition is the ECS ContainerDefinition shape.
type ContainerDefinition struct {
	Name                   string                 `json:"name"`
	Image                  string                 `json:"image"`
	RepositoryCredentials  *RepositoryCredentials `json:"repositoryCredentials,omitempty"`
	CPU                    int                    `json:"cpu"`
	Memory                 *int                   `json:"memory,omitempty"`
	MemoryReservation      *int                   `json:"memoryReservation,omitempty"`
	Links                  []string               `json:"links,omitempty"`
	PortMappings           []PortMapping          `json:"portMappings"`
	Essential              *bool                  `json:"essential,omitempty"` // nil means true
	RestartPolicy          *RestartPolicy         `json:"restartPolicy,omitempty"`
	EntryPoint             []string               `json:"entryPoint,omitempty"`
	Command                []string               `json:"command,omitempty"`
	Environment            []KeyValuePair         `json:"environment"`
	EnvironmentFiles       []EnvironmentFile      `json:"environmentFiles,omitempty"`
	MountPoints            []MountPoint           `json:"mountPoints"`
	VolumesFrom            []VolumeFrom           `json:"volumesFrom"`
	LinuxParameters        *LinuxParameters       `json:"linuxParameters,omitempty"`
	Secrets                []Secret               `json:"secrets,omitempty"`
	DependsOn              []ContainerDependency  `json:"dependsOn,omitempty"`
	StartTimeout           *int                   `json:"startTimeout,omitempty"`
	StopTimeout            *int                   `json:"stopTimeout,omitempty"`
	Hostname               string                 `json:"hostname,omitempty"`
	User                   string                 `json:"user,omitempty"`
	WorkingDirectory       string                 `json:"workingDirectory,omitempty"`
	DisableNetworking      *bool                  `json:"disableNetworking,omitempty"`
	Privileged             *bool                  `json:"privileged,omitempty"`
	ReadonlyRootFilesystem *bool                  `json:"readonlyRootFilesystem,omitempty"`
	DNSServers             []string               `json:"dnsServers,omitempty"`
	DNSSearchDomains       []string               `json:"dnsSearchDomains,omitempty"`
	ExtraHosts             []HostEntry            `json:"extraHosts,omitempty"`
	DockerSecurityOptions  []string               `json:"dockerSecurityOptions,omitempty"`
	Interactive            *bool                  `json:"interactive,omitempty"`
	PseudoTerminal         *bool                  `json:"pseudoTerminal,omitempty"`
	DockerLabels           map[string]string      `json:"dockerLabels,omitempty"`
	Ulimits                []Ulimit               `json:"ulimits,omitempty"`
	LogConfiguration       *LogConfiguration      `json:"logConfiguration,omitempty"`
	HealthCheck            *HealthCheck           `json:"healthCheck,omitempty"`
	SystemControls         []SystemControl        `json:"systemControls,omitempty"`
	ResourceRequirements   []ResourceRequirement  `json:"resourceRequirements,omitempty"`
	FirelensConfiguration  *FirelensConfiguration `json:"firelensConfiguration,omitempty"`
	CredentialSpecs        []string               `json:"credentialSpecs,omitempty"`
}

// IsEssential applies the ECS default: a container is essential unless it
// says otherwise.
func (c ContainerDefinition) IsEssential() bool {
	return c.Essential == nil || *c.Essential
}

// RepositoryCredentials names the secret holding private registry auth.
type RepositoryCredentials struct {
	CredentialsParameter string `json:"credentialsParameter"`
}

// KeyValuePair is an environment variable.
type KeyValuePair struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// PortMapping is a container port published on the host. An unset HostPort
// means dynamic in bridge mode and "same as containerPort" in host mode.
type PortMapping struct {
	ContainerPort      *int   `json:"containerPort,omitempty"`
	HostPort           *int   `json:"hostPort,omitempty"`
	Protocol           string `json:"protocol,omitempty"` // tcp or udp
	Name               string `json:"name,omitempty"`
	AppProtocol        string `json:"appProtocol,omitempty"`
	ContainerPortRange string `json:"containerPortRange,omitempty"` // "a-b"
}

// MountPoint mounts a task volume into a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume,omitempty"`
	ContainerPath string `json:"containerPath,omitempty"`
	ReadOnly      *bool  `json:"readOnly,omitempty"`
}

// VolumeFrom mounts every volume of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer,omitempty"`
	ReadOnly        *bool  `json:"readOnly,omitempty"`
}

// ContainerDependency orders container starts (condition: START, COMPLETE,
// SUCCESS or HEALTHY).
type ContainerDependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// HealthCheck is a Docker health check; the durations are seconds.
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    *int     `json:"interval,omitempty"`
	Timeout     *int     `json:"timeout,omitempty"`
	Retries     *int     `json:"retries,omitempty"`
	StartPeriod *int     `json:"startPeriod,omitempty"`
}

// LogConfiguration selects a Docker log driver.
type LogConfiguration struct {
	LogDriver     string            `json:"logDriver"`
	Options       map[string]string `json:"options,omitempty"`
	SecretOptions []Secret          `json:"secretOptions,omitempty"`
}

// Ulimit is a resource limit of a container.
type Ulimit struct {
	Name      string `json:"name"`
	SoftLimit int    `json:"softLimit"`
	HardLimit int    `json:"hardLimit"`
}

// HostEntry is an /etc/hosts line added to a container.
type HostEntry struct {
	Hostname  string `json:"hostname"`
	IPAddress string `json:"ipAddress"`
}

// LinuxParameters are the Linux-specific container options.
type LinuxParameters struct {
	Capabilities       *KernelCapabilities `json:"capabilities,omitempty"`
	Devices            []Device            `json:"devices,omitempty"`
	InitProcessEnabled *bool               `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   *int                `json:"sharedMemorySize,omitempty"` // MiB
	Tmpfs              []Tmpfs             `json:"tmpfs,omitempty"`
	MaxSwap            *int                `json:"maxSwap,omitempty"`
	Swappiness         *int                `json:"swappiness,omitempty"`
}

// KernelCapabilities are the capabilities added to and dropped from Docker's
// default set.
type KernelCapabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Device is a host device exposed to a container.
type Device struct {
	HostPath      string   `json:"hostPath"`
	ContainerPath string   `json:"containerPath,omitempty"`
	Permissions   []string `json:"permissions,omitempty"` // read, write, mknod
}

// Tmpfs is a tmpfs mount; Size is in MiB.
type Tmpfs struct {
	ContainerPath string   `json:"containerPath"`
	Size          int      `json:"size"`
	MountOptions  []string `json:"mountOptions,omitempty"`
}

// RestartPolicy restarts a container in place when it exits.
type RestartPolicy struct {
	Enabled              *bool `json:"enabled"`
	IgnoredExitCodes     []int `json:"ignoredExitCodes,omitempty"`
	RestartAttemptPeriod *int  `json:"restartAttemptPeriod,omitempty"` // seconds
}

// SystemControl is a namespaced kernel parameter (sysctl).
type SystemControl struct {
	Namespace string `json:"namespace,omitempty"`
	Value     string `json:"value,omitempty"`
}

// Secret is a secret exposed to a container or a log driver.
type Secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// EnvironmentFile is a file of environment variables (type s3).
type EnvironmentFile struct {
	Value string `json:"value"`
	Type  string `json:"type"`
}

// FirelensConfiguration routes container logs through a FireLens container.
type FirelensConfiguration struct {
	Type    string            `json:"type"`
	Options map[string]string `json:"options,omitempty"`
}

// ResourceRequirement is a GPU or inference accelerator requirement.
type ResourceRequirement struct {
	Value string `json:"value"`
	Type  string `json:"type"`
}

// Volume is a task volume: a host path (Host), a Docker volume
// (DockerVolumeConfiguration), an EFS or FSx file system (stored, shown and
// sent to the agent, which must advertise the capability to get them) or,
// with none of these, an agent-managed local volume that lives as long as
// the task.
type Volume struct {
	Name                                    string                                   `json:"name,omitempty"`
	Host                                    *HostVolumeProperties                    `json:"host,omitempty"`
	DockerVolumeConfiguration               *DockerVolumeConfiguration               `json:"dockerVolumeConfiguration,omitempty"`
	EFSVolumeConfiguration                  *EFSVolumeConfiguration                  `json:"efsVolumeConfiguration,omitempty"`
	FSxWindowsFileServerVolumeConfiguration *FSxWindowsFileServerVolumeConfiguration `json:"fsxWindowsFileServerVolumeConfiguration,omitempty"`
}

// EFSVolumeConfiguration mounts an Amazon EFS file system.
type EFSVolumeConfiguration struct {
	FileSystemID          string                  `json:"fileSystemId"`
	RootDirectory         string                  `json:"rootDirectory,omitempty"`
	TransitEncryption     string                  `json:"transitEncryption,omitempty"` // ENABLED or DISABLED
	TransitEncryptionPort *int                    `json:"transitEncryptionPort,omitempty"`
	AuthorizationConfig   *EFSAuthorizationConfig `json:"authorizationConfig,omitempty"`
}

// EFSAuthorizationConfig selects an EFS access point and IAM authorization.
type EFSAuthorizationConfig struct {
	AccessPointID string `json:"accessPointId,omitempty"`
	IAM           string `json:"iam,omitempty"` // ENABLED or DISABLED
}

// FSxWindowsFileServerVolumeConfiguration mounts an FSx for Windows File
// Server file system.
type FSxWindowsFileServerVolumeConfiguration struct {
	FileSystemID        string                                   `json:"fileSystemId"`
	RootDirectory       string                                   `json:"rootDirectory"`
	AuthorizationConfig *FSxWindowsFileServerAuthorizationConfig `json:"authorizationConfig"`
}

// FSxWindowsFileServerAuthorizationConfig names the secret with the
// domain credentials and the domain.
type FSxWindowsFileServerAuthorizationConfig struct {
	CredentialsParameter string `json:"credentialsParameter"`
	Domain               string `json:"domain"`
}

// HostVolumeProperties is a bind mount of a host path.
type HostVolumeProperties struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// DockerVolumeConfiguration is a Docker volume; Scope is task or shared.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"`
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}
