package ecsapi

import (
	"strconv"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// epochSeconds marshals a time as ECS does for awsJson1_1 timestamps:
// seconds since the epoch as a JSON number with millisecond precision.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// failure is the ECS Failure shape.
type failure struct {
	ARN    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// describeEach builds the answer of an operation that reports per item
// (Describe*, UpdateContainerInstancesState): for each ref, in request
// order, a result, or a failure when describe returns one. An error aborts
// the whole request. Both slices are non-nil: ECS sends [] rather than null.
func describeEach[T any](refs []string, describe func(ref string) (T, *failure, error)) ([]T, []failure, error) {
	results := []T{}
	failures := []failure{}
	for _, ref := range refs {
		v, f, err := describe(ref)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			failures = append(failures, *f)
			continue
		}
		results = append(results, v)
	}
	return results, failures, nil
}

// clusterOut is the ECS Cluster shape, with the members this control plane has.
type clusterOut struct {
	ClusterArn                        string          `json:"clusterArn"`
	ClusterName                       string          `json:"clusterName"`
	Status                            string          `json:"status"`
	RegisteredContainerInstancesCount int             `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int             `json:"runningTasksCount"`
	PendingTasksCount                 int             `json:"pendingTasksCount"`
	ActiveServicesCount               int             `json:"activeServicesCount"`
	Statistics                        []store.Setting `json:"statistics"`
	Tags                              []store.Tag     `json:"tags"`
	Settings                          []store.Setting `json:"settings,omitempty"`
	CapacityProviders                 []string        `json:"capacityProviders"`
	DefaultCapacityProviderStrategy   []struct{}      `json:"defaultCapacityProviderStrategy"`
	// Configuration is sent only when asked for (CONFIGURATIONS), as ECS.
	Configuration *store.ClusterConfiguration `json:"configuration,omitempty"`
}

// clusterInclude says which optional parts of a cluster a view shows:
// DescribeClusters' include, everything for the answers of the operations
// that change a cluster.
type clusterInclude struct {
	settings, tags, configuration bool
}

var includeAll = clusterInclude{settings: true, tags: true, configuration: true}

// instanceOut is the ECS ContainerInstance shape.
type instanceOut struct {
	ContainerInstanceArn string            `json:"containerInstanceArn"`
	Ec2InstanceID        string            `json:"ec2InstanceId,omitempty"`
	Version              int64             `json:"version"`
	VersionInfo          store.VersionInfo `json:"versionInfo"`
	RemainingResources   []store.Resource  `json:"remainingResources"`
	RegisteredResources  []store.Resource  `json:"registeredResources"`
	Status               string            `json:"status"`
	StatusReason         string            `json:"statusReason,omitempty"`
	AgentConnected       bool              `json:"agentConnected"`
	RunningTasksCount    int               `json:"runningTasksCount"`
	PendingTasksCount    int               `json:"pendingTasksCount"`
	Attributes           []store.Attribute `json:"attributes"`
	RegisteredAt         epochSeconds      `json:"registeredAt"`
	Attachments          []struct{}        `json:"attachments"`
	Tags                 []store.Tag       `json:"tags,omitempty"`
	// HealthStatus is sent with include CONTAINER_INSTANCE_HEALTH.
	HealthStatus *instanceHealthOut `json:"healthStatus,omitempty"`
}

// clusterView renders a cluster. instances is the number of ACTIVE or
// DRAINING instances.
func clusterView(c store.Cluster, instances int, inc clusterInclude) clusterOut {
	out := clusterOut{
		ClusterArn:                        c.ARN,
		ClusterName:                       c.Name,
		Status:                            c.Status,
		RegisteredContainerInstancesCount: instances,
		Statistics:                        []store.Setting{},
		Tags:                              []store.Tag{},
		CapacityProviders:                 []string{},
		DefaultCapacityProviderStrategy:   []struct{}{},
	}
	if inc.tags && len(c.Tags) > 0 {
		out.Tags = c.Tags
	}
	if inc.settings {
		out.Settings = c.Settings
	}
	if inc.configuration {
		out.Configuration = c.Configuration
	}
	return out
}

func instanceView(ci store.ContainerInstance, withTags bool) instanceOut {
	resources := ci.RegisteredResources
	if resources == nil {
		resources = []store.Resource{}
	}
	attrs := ci.Attributes
	if attrs == nil {
		attrs = []store.Attribute{}
	}
	out := instanceOut{
		ContainerInstanceArn: ci.ARN,
		Ec2InstanceID:        ci.EC2InstanceID,
		Version:              ci.Version,
		VersionInfo:          ci.VersionInfo,
		// No tasks are placed yet, so everything registered remains.
		RemainingResources:  resources,
		RegisteredResources: resources,
		Status:              ci.Status,
		StatusReason:        ci.StatusReason,
		AgentConnected:      ci.AgentConnected,
		Attributes:          attrs,
		RegisteredAt:        epochSeconds(ci.RegisteredAt),
		Attachments:         []struct{}{},
	}
	if withTags {
		out.Tags = ci.Tags
		if out.Tags == nil {
			out.Tags = []store.Tag{}
		}
	}
	return out
}
