package ecsapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/services"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Service errors and messages, as ECS words them.
const (
	CodeServiceNotFound  = "ServiceNotFoundException"
	CodeServiceNotActive = "ServiceNotActiveException"
	// CodeClusterContainsServices refuses DeleteCluster.
	CodeClusterContainsServices = "ClusterContainsServicesException"

	msgClusterContainsServices = "The Cluster cannot be deleted while Services are active."

	msgServiceNotFound  = "Service not found."
	msgServiceNotActive = "Service was not ACTIVE."
	msgNotIdempotent    = "Creation of service was not idempotent."
	// Deployment configuration defaults of ECS, by scheduling strategy.
	defaultReplicaMaxPercent = 200
	defaultReplicaMinHealthy = 100
	defaultDaemonMaxPercent  = 100
	defaultDaemonMinHealthy  = 0
	maxServiceConstraints    = 10
	maxServiceStrategies     = 5
)

var serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// serviceOps returns the service operations.
func (a *API) serviceOps() map[string]opFunc {
	return map[string]opFunc{
		"CreateService":    a.createService,
		"DescribeServices": a.describeServices,
		"ListServices":     a.listServices,
		"UpdateService":    a.updateService,
		"DeleteService":    a.deleteService,
	}
}

func (a *API) serviceARN(cluster, name string) string {
	return a.arnPrefix() + "service/" + cluster + "/" + name
}

// serviceGroup is the task group of a service's tasks, as ECS sets it.
func serviceGroup(name string) string { return "service:" + name }

// newDeploymentID returns an ECS deployment ID: ecs-svc/ and 19 digits.
func newDeploymentID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(9e18))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "ecs-svc/" + leftPad(n.Add(n, big.NewInt(1e18)).String(), 19)
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// deploymentConfigIn is the request's DeploymentConfiguration.
type deploymentConfigIn struct {
	MaximumPercent           *int `json:"maximumPercent"`
	MinimumHealthyPercent    *int `json:"minimumHealthyPercent"`
	DeploymentCircuitBreaker *struct {
		Enable   *bool `json:"enable"`
		Rollback *bool `json:"rollback"`
	} `json:"deploymentCircuitBreaker"`
	Alarms json.RawMessage `json:"alarms"`
}

// unsupportedServiceMembers are CreateService and UpdateService members
// for what this control plane does not have (load balancers, service
// discovery, awsvpc, capacity providers): refused rather than ignored.
type unsupportedServiceMembers struct {
	LoadBalancers                 json.RawMessage `json:"loadBalancers"`
	ServiceRegistries             json.RawMessage `json:"serviceRegistries"`
	CapacityProviderStrategy      json.RawMessage `json:"capacityProviderStrategy"`
	NetworkConfiguration          json.RawMessage `json:"networkConfiguration"`
	ServiceConnectConfiguration   json.RawMessage `json:"serviceConnectConfiguration"`
	VolumeConfigurations          json.RawMessage `json:"volumeConfigurations"`
	PlatformVersion               string          `json:"platformVersion"`
	HealthCheckGracePeriodSeconds *int            `json:"healthCheckGracePeriodSeconds"`
}

func (u unsupportedServiceMembers) validate() error {
	for name, raw := range map[string]json.RawMessage{
		"loadBalancers": u.LoadBalancers, "serviceRegistries": u.ServiceRegistries,
		"capacityProviderStrategy": u.CapacityProviderStrategy, "networkConfiguration": u.NetworkConfiguration,
		"serviceConnectConfiguration": u.ServiceConnectConfiguration, "volumeConfigurations": u.VolumeConfigurations,
	} {
		if s := strings.TrimSpace(string(raw)); s != "" && s != "null" && s != "[]" && s != "{}" {
			return invalidParam("%s is not supported: this control plane runs EC2 tasks in bridge or host mode, without load balancers, service discovery or capacity providers.", name)
		}
	}
	if u.PlatformVersion != "" {
		return invalidParam("platformVersion is only for the FARGATE launch type; this control plane runs EC2 tasks.")
	}
	if u.HealthCheckGracePeriodSeconds != nil {
		return invalidParam("healthCheckGracePeriodSeconds is only for services with load balancers, which this control plane does not have.")
	}
	return nil
}

type createServiceInput struct {
	Cluster                 string                 `json:"cluster"`
	ServiceName             string                 `json:"serviceName"`
	TaskDefinition          string                 `json:"taskDefinition"`
	DesiredCount            *int                   `json:"desiredCount"`
	ClientToken             string                 `json:"clientToken"`
	LaunchType              string                 `json:"launchType"`
	SchedulingStrategy      string                 `json:"schedulingStrategy"`
	DeploymentConfiguration *deploymentConfigIn    `json:"deploymentConfiguration"`
	PlacementConstraints    []scheduler.Constraint `json:"placementConstraints"`
	PlacementStrategy       []scheduler.Strategy   `json:"placementStrategy"`
	DeploymentController    *struct {
		Type string `json:"type"`
	} `json:"deploymentController"`
	Role                 string `json:"role"`
	EnableExecuteCommand bool   `json:"enableExecuteCommand"`
	taskTagging
	unsupportedServiceMembers
}

func (in *createServiceInput) validate() error {
	if in.ServiceName == "" {
		return invalidParam("serviceName can not be blank.")
	}
	if !serviceNameRE.MatchString(in.ServiceName) {
		return invalidParam("serviceName can have up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.")
	}
	if in.TaskDefinition == "" {
		return invalidParam("taskDefinition can not be blank.")
	}
	if in.LaunchType != "" && in.LaunchType != launchTypeEC2 && in.LaunchType != launchTypeExternal {
		return invalidParam("launchType %s is not supported: use EC2, or EXTERNAL for instances registered with ECS_EXTERNAL=true.", in.LaunchType)
	}
	switch in.SchedulingStrategy {
	case "", store.SchedulingReplica:
		if in.DesiredCount == nil {
			return invalidParam("desiredCount is required for a service with the REPLICA scheduling strategy.")
		}
	case store.SchedulingDaemon:
		if in.DesiredCount != nil {
			return invalidParam("The daemon scheduling strategy does not support a desired count for services.")
		}
		if len(in.PlacementStrategy) > 0 {
			return invalidParam("The daemon scheduling strategy does not support placement strategies.")
		}
	default:
		return invalidParam("schedulingStrategy must be REPLICA or DAEMON, not %q.", in.SchedulingStrategy)
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return invalidParam("desiredCount can not be negative.")
	}
	if in.DeploymentController != nil && in.DeploymentController.Type != "" && in.DeploymentController.Type != "ECS" {
		return invalidParam("deploymentController type %s is not supported: this control plane runs ECS rolling deployments only.", in.DeploymentController.Type)
	}
	if in.EnableExecuteCommand {
		return invalidParam("enableExecuteCommand is not supported: this control plane has no ECS Exec.")
	}
	if err := validateClientToken(in.ClientToken); err != nil {
		return err
	}
	if err := validatePlacement(in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return err
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := validatePropagateTags(in.PropagateTags, true); err != nil {
		return err
	}
	return in.unsupportedServiceMembers.validate()
}

func validatePlacement(constraints []scheduler.Constraint, strategies []scheduler.Strategy) error {
	if len(constraints) > maxServiceConstraints {
		return invalidParam("placementConstraints can have at most %d items.", maxServiceConstraints)
	}
	if len(strategies) > maxServiceStrategies {
		return invalidParam("placementStrategy can have at most %d items.", maxServiceStrategies)
	}
	if err := scheduler.Validate(strategies, constraints); err != nil {
		return placementErr(err)
	}
	return nil
}

// deploymentConfig applies the request's deployment configuration over
// base (ECS's defaults for the strategy, or the service's current one) and
// checks the result.
func deploymentConfig(in *deploymentConfigIn, base store.DeploymentConfiguration, strategy string) (store.DeploymentConfiguration, error) {
	out := base
	if in == nil {
		return out, nil
	}
	if in.MaximumPercent != nil {
		out.MaximumPercent = *in.MaximumPercent
	}
	if in.MinimumHealthyPercent != nil {
		out.MinimumHealthyPercent = *in.MinimumHealthyPercent
	}
	if cb := in.DeploymentCircuitBreaker; cb != nil {
		if cb.Enable == nil || cb.Rollback == nil {
			return out, invalidParam("deploymentConfiguration.deploymentCircuitBreaker needs both enable and rollback.")
		}
		out.DeploymentCircuitBreaker = store.DeploymentCircuitBreaker{Enable: *cb.Enable, Rollback: *cb.Rollback}
	}
	if s := strings.TrimSpace(string(in.Alarms)); s != "" && s != "null" {
		return out, invalidParam("deploymentConfiguration.alarms is not supported: this control plane has no CloudWatch alarms.")
	}
	switch {
	case out.MinimumHealthyPercent < 0 || out.MinimumHealthyPercent > 100:
		return out, invalidParam("deploymentConfiguration.minimumHealthyPercent must be between 0 and 100, not %d.", out.MinimumHealthyPercent)
	case strategy == store.SchedulingDaemon && out.MaximumPercent != defaultDaemonMaxPercent:
		return out, invalidParam("deploymentConfiguration.maximumPercent must be 100 for a DAEMON service: it runs one task per instance.")
	case out.MaximumPercent < 100 || out.MaximumPercent > 2000:
		return out, invalidParam("deploymentConfiguration.maximumPercent must be between 100 and 2000, not %d.", out.MaximumPercent)
	case strategy != store.SchedulingDaemon && out.MaximumPercent == 100 && out.MinimumHealthyPercent == 100:
		return out, invalidParam("deploymentConfiguration: with maximumPercent 100 and minimumHealthyPercent 100 no task could ever be replaced; lower minimumHealthyPercent or raise maximumPercent.")
	}
	return out, nil
}

func defaultDeploymentConfig(strategy string) store.DeploymentConfiguration {
	if strategy == store.SchedulingDaemon {
		return store.DeploymentConfiguration{MaximumPercent: defaultDaemonMaxPercent, MinimumHealthyPercent: defaultDaemonMinHealthy}
	}
	return store.DeploymentConfiguration{MaximumPercent: defaultReplicaMaxPercent, MinimumHealthyPercent: defaultReplicaMinHealthy}
}

// serviceTaskDefinition resolves the task definition a deployment is to
// run: it must exist and be ACTIVE.
func (a *API) serviceTaskDefinition(tx store.Tx, ref string) (store.TaskDefinition, error) {
	td, found, err := a.lookupTaskDefinition(tx, ref)
	if err != nil {
		return td, err
	}
	if !found {
		return td, invalidParam("Unable to find task definition %s: register it first or check the family and revision.", ref)
	}
	if td.Status != store.StatusActive {
		return td, invalidParam("TaskDefinition %s is inactive (status %s): deploy an ACTIVE revision.", td.ARN, td.Status)
	}
	return td, nil
}

// newDeployment is a PRIMARY deployment of td, rolling out.
func (a *API) newDeployment(td store.TaskDefinition, desired int, launchType string) store.Deployment {
	now := a.now()
	id := newDeploymentID()
	return store.Deployment{
		ID: id, Status: store.DeploymentPrimary, TaskDefinitionARN: td.ARN,
		Family: td.Family, Revision: td.Revision, DesiredCount: desired, LaunchType: launchType,
		RolloutState: store.RolloutInProgress, RolloutStateReason: "ECS deployment " + id + " in progress.",
		CreatedAt: now, UpdatedAt: now,
	}
}

// addEvent puts a service event first, keeping the newest
// services.MaxEvents.
func (a *API) addEvent(s *store.Service, message string) {
	services.AddEvent(s, store.ServiceEvent{ID: newUUID(), CreatedAt: a.now(), Message: message})
}

// createService stores an ACTIVE service with its first PRIMARY
// deployment; the service scheduler (services_drive.go) starts its tasks.
// The same request again (clientToken or not) answers with the service;
// another request for a live service of that name is refused as ECS does.
func (a *API) createService(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in createServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if in.SchedulingStrategy == "" {
		in.SchedulingStrategy = store.SchedulingReplica
	}
	cfg, err := deploymentConfig(in.DeploymentConfiguration, defaultDeploymentConfig(in.SchedulingStrategy), in.SchedulingStrategy)
	if err != nil {
		return nil, err
	}
	fp := serviceFingerprint(in)
	var svc store.Service
	existed := false
	err = a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		old, err := tx.Service(c.Name, in.ServiceName)
		switch {
		case err == nil && old.Status != store.ServiceInactive:
			if old.Fingerprint != fp {
				return invalidParam(msgNotIdempotent)
			}
			svc, existed = old, true
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return internal("read service", err)
		}
		td, err := a.serviceTaskDefinition(tx, in.TaskDefinition)
		if err != nil {
			return err
		}
		desired := 0
		if in.DesiredCount != nil {
			desired = *in.DesiredCount
		}
		launchType := normalLaunchType(in.LaunchType)
		if err := checkCompatibility(td, launchType); err != nil {
			return err
		}
		// The task's tags are checked now, so that a service whose tasks
		// could never be tagged is refused rather than never started.
		if _, err := tagsForTask(in.taskTagging, c.Name, td, &taskService{Name: in.ServiceName, Tags: in.Tags}); err != nil {
			return err
		}
		svc = store.Service{
			Cluster: c.Name, Name: in.ServiceName, ARN: a.serviceARN(c.Name, in.ServiceName), ClusterARN: c.ARN,
			Status: store.ServiceActive, TaskDefinitionARN: td.ARN, DesiredCount: desired, LaunchType: launchType,
			SchedulingStrategy: in.SchedulingStrategy, DeploymentConfiguration: cfg,
			PlacementConstraints: storeConstraints(in.PlacementConstraints), PlacementStrategy: storeStrategies(in.PlacementStrategy),
			Tags: in.Tags, PropagateTags: in.PropagateTags, EnableECSManagedTags: in.EnableECSManagedTags != nil && *in.EnableECSManagedTags,
			Deployments: []store.Deployment{a.newDeployment(td, desired, launchType)},
			CreatedAt:   a.now(), CreatedBy: principalOf(ctx).ARN, Fingerprint: fp,
		}
		if svc.PropagateTags == "" {
			svc.PropagateTags = PropagateNone
		}
		return putOrInternal(tx.PutService(svc), "write service")
	})
	if err != nil {
		return nil, err
	}
	if !existed {
		a.log.Info("service created", logKeyService, svc.ARN, logging.KeyTaskFamily, svc.Deployments[0].Family, logging.KeyCount, svc.DesiredCount)
		a.servicesChanged()
	}
	return map[string]any{"service": a.serviceView(svc, nil, true)}, nil
}

// servicesChanged wakes the service scheduler.
func (a *API) servicesChanged() {
	if a.o.OnServicesChanged != nil {
		a.o.OnServicesChanged()
	}
}

// serviceFingerprint identifies a CreateService request, its clientToken
// left out: ECS answers the same request with the existing service.
func serviceFingerprint(in createServiceInput) string {
	in.ClientToken = ""
	return fingerprintOf(in)
}

func storeConstraints(in []scheduler.Constraint) []store.PlacementConstraint {
	var out []store.PlacementConstraint
	for _, c := range in {
		out = append(out, store.PlacementConstraint{Type: c.Type, Expression: c.Expression})
	}
	return out
}

func storeStrategies(in []scheduler.Strategy) []store.PlacementStrategy {
	var out []store.PlacementStrategy
	for _, s := range in {
		out = append(out, store.PlacementStrategy{Type: s.Type, Field: s.Field})
	}
	return out
}
