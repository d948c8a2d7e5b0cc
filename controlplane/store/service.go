package store

import (
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Service statuses, scheduling strategies and deployment values, as ECS
// spells them.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"

	SchedulingReplica = "REPLICA"
	SchedulingDaemon  = "DAEMON"

	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"

	// StopCodeServiceScheduler is the stop code of a task the service
	// scheduler stopped (replaced, scaled in, rolled out).
	StopCodeServiceScheduler = "ServiceSchedulerInitiated"
)

// bucketServices holds services: <cluster name>/<service name> -> Service.
var bucketServices = []byte("services")

// Service is one ECS service, keyed by Cluster and Name. Its deployments,
// events and the scheduler's bookkeeping live in the record, so that the
// service scheduler needs nothing but the store to carry on after a
// restart.
type Service struct {
	Cluster            string `json:"cluster"`
	Name               string `json:"serviceName"`
	ARN                string `json:"serviceArn"`
	ClusterARN         string `json:"clusterArn"`
	Status             string `json:"status"`
	TaskDefinitionARN  string `json:"taskDefinition"`
	DesiredCount       int    `json:"desiredCount"`
	LaunchType         string `json:"launchType"`
	SchedulingStrategy string `json:"schedulingStrategy"`

	DeploymentConfiguration DeploymentConfiguration `json:"deploymentConfiguration"`
	// PlacementConstraints share the task definition's shape (memberOf,
	// distinctInstance).
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty"`
	PlacementStrategy    []PlacementStrategy   `json:"placementStrategy,omitempty"`

	Tags                 []Tag  `json:"tags,omitempty"`
	PropagateTags        string `json:"propagateTags,omitempty"`
	EnableECSManagedTags bool   `json:"enableECSManagedTags"`

	Deployments []Deployment   `json:"deployments"`
	Events      []ServiceEvent `json:"events,omitempty"` // newest first
	CreatedAt   time.Time      `json:"createdAt"`
	CreatedBy   string         `json:"createdBy,omitempty"`

	// Fingerprint identifies the CreateService request that made the
	// service: the same request again is answered with the service.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Tasks are the tasks the scheduler started and has not yet seen
	// STOPPED: how it notices each stop exactly once.
	Tasks []ServiceTask `json:"tasks,omitempty"`
	// Steady is whether the last reconcile found the service steady, so
	// that "has reached a steady state" is written on reaching it.
	Steady bool `json:"steady"`
	// StartFailures counts tasks that stopped without being asked to since
	// the last one that ran healthy; from a few on, starts back off until
	// BackoffUntil.
	StartFailures int       `json:"startFailures,omitempty"`
	BackoffUntil  time.Time `json:"backoffUntil,omitempty"`
	// LastCompleted is the deployment that last completed its rollout:
	// what the circuit breaker rolls back to.
	LastCompleted *Deployment `json:"lastCompleted,omitempty"`
	// LastPlacementEventAt rate-limits "unable to place a task" events.
	LastPlacementEventAt time.Time `json:"lastPlacementEventAt,omitempty"`
}

// ServiceTask is a task the scheduler started for a deployment.
type ServiceTask struct {
	ID           string `json:"id"`
	DeploymentID string `json:"deploymentId"`
}

// DeploymentConfiguration is the ECS shape of the same name, with ECS's
// defaults filled in.
type DeploymentConfiguration struct {
	MaximumPercent           int                      `json:"maximumPercent"`
	MinimumHealthyPercent    int                      `json:"minimumHealthyPercent"`
	DeploymentCircuitBreaker DeploymentCircuitBreaker `json:"deploymentCircuitBreaker"`
}

// DeploymentCircuitBreaker is the ECS shape of the same name.
type DeploymentCircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

// PlacementStrategy is the ECS shape of the same name.
type PlacementStrategy struct {
	Type  string `json:"type,omitempty"`
	Field string `json:"field,omitempty"`
}

// Deployment is one deployment of a service: a task definition rolled out
// to DesiredCount tasks. The counts are the scheduler's last view.
type Deployment struct {
	ID                 string    `json:"id"`
	Status             string    `json:"status"`
	TaskDefinitionARN  string    `json:"taskDefinition"`
	Family             string    `json:"family"`
	Revision           int       `json:"revision"`
	DesiredCount       int       `json:"desiredCount"`
	PendingCount       int       `json:"pendingCount"`
	RunningCount       int       `json:"runningCount"`
	FailedTasks        int       `json:"failedTasks"`
	RolloutState       string    `json:"rolloutState,omitempty"`
	RolloutStateReason string    `json:"rolloutStateReason,omitempty"`
	LaunchType         string    `json:"launchType,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// ServiceEvent is one service event.
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// Primary returns the service's PRIMARY deployment.
func (s *Service) Primary() *Deployment {
	for i := range s.Deployments {
		if s.Deployments[i].Status == DeploymentPrimary {
			return &s.Deployments[i]
		}
	}
	return nil
}

// ServiceTx is the services part of Tx.
type ServiceTx interface {
	// Service returns a cluster's service, or ErrNotFound.
	Service(cluster, name string) (Service, error)
	PutService(s Service) error
	// Services returns a cluster's services sorted by name; every
	// cluster's (by cluster, then name) when cluster is "".
	Services(cluster string) ([]Service, error)
}

func serviceKey(cluster, name string) []byte { return []byte(cluster + "/" + name) }

func (t boltTx) Service(cluster, name string) (Service, error) {
	return getCached(t, t.caches.services, bucketServices, serviceKey(cluster, name))
}

func (t boltTx) PutService(s Service) error {
	return put(t.tx, bucketServices, serviceKey(s.Cluster, s.Name), s)
}

func (t boltTx) Services(cluster string) ([]Service, error) {
	var prefix []byte
	if cluster != "" {
		prefix = []byte(cluster + "/")
	}
	return listCached(t, t.caches.services, bucketServices, prefix, false)
}

// Clone returns a deep copy of s.
func (s Service) Clone() Service {
	s.PlacementConstraints = slices.Clone(s.PlacementConstraints)
	s.PlacementStrategy = slices.Clone(s.PlacementStrategy)
	s.Tags = slices.Clone(s.Tags)
	s.Deployments = slices.Clone(s.Deployments)
	s.Events = slices.Clone(s.Events)
	s.Tasks = slices.Clone(s.Tasks)
	if s.LastCompleted != nil {
		d := *s.LastCompleted
		s.LastCompleted = &d
	}
	return s
}

// createServicesBucket is the migration that adds the services bucket: no
// earlier file holds a service, so it starts empty.
func createServicesBucket(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketServices)
	return err
}
