package store

import "time"

// Status values of clusters and container instances, as ECS spells them.
const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
	StatusDraining = "DRAINING"
)

// Tag, Attribute, Resource, VersionInfo and PlatformDevice carry the ECS API
// member names in their JSON tags, so the API layer can send them as they are.

// Tag is an ECS resource tag.
type Tag struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// Setting is a cluster setting (only containerInsights exists).
type Setting struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// Attribute is a container instance attribute.
type Attribute struct {
	Name       string  `json:"name"`
	Value      *string `json:"value,omitempty"`
	TargetType string  `json:"targetType,omitempty"`
	TargetID   string  `json:"targetId,omitempty"`
}

// Resource is a registered or remaining resource of a container instance.
type Resource struct {
	Name           string   `json:"name,omitempty"`
	Type           string   `json:"type,omitempty"`
	DoubleValue    float64  `json:"doubleValue"`
	LongValue      int64    `json:"longValue"`
	IntegerValue   int32    `json:"integerValue"`
	StringSetValue []string `json:"stringSetValue,omitempty"`
}

// VersionInfo is what an agent reports about itself.
type VersionInfo struct {
	AgentVersion  string `json:"agentVersion,omitempty"`
	AgentHash     string `json:"agentHash,omitempty"`
	DockerVersion string `json:"dockerVersion,omitempty"`
}

// PlatformDevice is a GPU or similar device of an instance.
type PlatformDevice struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Cluster is one stored cluster, keyed by Name. A deleted cluster stays as
// INACTIVE, as in ECS, and becomes ACTIVE again if re-created.
type Cluster struct {
	Name          string                `json:"name"`
	ARN           string                `json:"arn"`
	Status        string                `json:"status"`
	Tags          []Tag                 `json:"tags,omitempty"`
	Settings      []Setting             `json:"settings,omitempty"`
	Configuration *ClusterConfiguration `json:"configuration,omitempty"`
	CreatedAt     time.Time             `json:"createdAt"`
}

// ClusterConfiguration is the ECS ClusterConfiguration shape: how ECS Exec
// sessions are logged and which keys encrypt managed storage. It is stored
// and shown as given; nothing in this control plane reads it.
type ClusterConfiguration struct {
	ExecuteCommandConfiguration *ExecuteCommandConfiguration `json:"executeCommandConfiguration,omitempty"`
	ManagedStorageConfiguration *ManagedStorageConfiguration `json:"managedStorageConfiguration,omitempty"`
}

// ExecuteCommandConfiguration is the ECS shape of the same name.
type ExecuteCommandConfiguration struct {
	KMSKeyID         string                          `json:"kmsKeyId,omitempty"`
	Logging          string                          `json:"logging,omitempty"` // NONE, DEFAULT or OVERRIDE
	LogConfiguration *ExecuteCommandLogConfiguration `json:"logConfiguration,omitempty"`
}

// ExecuteCommandLogConfiguration is the ECS shape of the same name.
type ExecuteCommandLogConfiguration struct {
	CloudWatchLogGroupName      string `json:"cloudWatchLogGroupName,omitempty"`
	CloudWatchEncryptionEnabled bool   `json:"cloudWatchEncryptionEnabled,omitempty"`
	S3BucketName                string `json:"s3BucketName,omitempty"`
	S3EncryptionEnabled         bool   `json:"s3EncryptionEnabled,omitempty"`
	S3KeyPrefix                 string `json:"s3KeyPrefix,omitempty"`
}

// ManagedStorageConfiguration is the ECS shape of the same name.
type ManagedStorageConfiguration struct {
	KMSKeyID                        string `json:"kmsKeyId,omitempty"`
	FargateEphemeralStorageKMSKeyID string `json:"fargateEphemeralStorageKmsKeyId,omitempty"`
}

// ContainerInstance is one stored container instance, keyed by Cluster and
// ID (the 32-hex-digit last part of its ARN). Version increases on every
// change, as the ECS "version" member does.
type ContainerInstance struct {
	ID                  string           `json:"id"`
	Cluster             string           `json:"cluster"`
	ARN                 string           `json:"arn"`
	EC2InstanceID       string           `json:"ec2InstanceId,omitempty"`
	Status              string           `json:"status"`
	StatusReason        string           `json:"statusReason,omitempty"`
	Version             int64            `json:"version"`
	VersionInfo         VersionInfo      `json:"versionInfo"`
	RegisteredResources []Resource       `json:"registeredResources,omitempty"`
	Attributes          []Attribute      `json:"attributes,omitempty"`
	Tags                []Tag            `json:"tags,omitempty"`
	PlatformDevices     []PlatformDevice `json:"platformDevices,omitempty"`
	AgentConnected      bool             `json:"agentConnected"`
	// Owner is the access key ID that registered the instance: only it (or
	// an admin key) may act as its agent. "" for instances registered
	// before owners were recorded.
	Owner        string    `json:"owner,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}
