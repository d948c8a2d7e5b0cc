package ecsapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

const logKeyService = "service"

func newUUID() string { return uuid.NewString() }

// serviceOut is the ECS Service shape, with the members this control
// plane has.
type serviceOut struct {
	ServiceArn              string                      `json:"serviceArn"`
	ServiceName             string                      `json:"serviceName"`
	ClusterArn              string                      `json:"clusterArn"`
	Status                  string                      `json:"status"`
	DesiredCount            int                         `json:"desiredCount"`
	RunningCount            int                         `json:"runningCount"`
	PendingCount            int                         `json:"pendingCount"`
	LaunchType              string                      `json:"launchType"`
	TaskDefinition          string                      `json:"taskDefinition"`
	DeploymentConfiguration deploymentConfigOut         `json:"deploymentConfiguration"`
	Deployments             []deploymentOut             `json:"deployments"`
	Events                  []serviceEventOut           `json:"events"`
	CreatedAt               epochSeconds                `json:"createdAt"`
	PlacementConstraints    []store.PlacementConstraint `json:"placementConstraints"`
	PlacementStrategy       []store.PlacementStrategy   `json:"placementStrategy"`
	SchedulingStrategy      string                      `json:"schedulingStrategy"`
	DeploymentController    map[string]string           `json:"deploymentController"`
	LoadBalancers           []struct{}                  `json:"loadBalancers"`
	ServiceRegistries       []struct{}                  `json:"serviceRegistries"`
	Tags                    []store.Tag                 `json:"tags,omitempty"`
	CreatedBy               string                      `json:"createdBy,omitempty"`
	EnableECSManagedTags    bool                        `json:"enableECSManagedTags"`
	PropagateTags           string                      `json:"propagateTags"`
	EnableExecuteCommand    bool                        `json:"enableExecuteCommand"`
}

type deploymentConfigOut struct {
	MaximumPercent           int                            `json:"maximumPercent"`
	MinimumHealthyPercent    int                            `json:"minimumHealthyPercent"`
	DeploymentCircuitBreaker store.DeploymentCircuitBreaker `json:"deploymentCircuitBreaker"`
}

type deploymentOut struct {
	ID                 string       `json:"id"`
	Status             string       `json:"status"`
	TaskDefinition     string       `json:"taskDefinition"`
	DesiredCount       int          `json:"desiredCount"`
	PendingCount       int          `json:"pendingCount"`
	RunningCount       int          `json:"runningCount"`
	FailedTasks        int          `json:"failedTasks"`
	CreatedAt          epochSeconds `json:"createdAt"`
	UpdatedAt          epochSeconds `json:"updatedAt"`
	LaunchType         string       `json:"launchType"`
	RolloutState       string       `json:"rolloutState,omitempty"`
	RolloutStateReason string       `json:"rolloutStateReason,omitempty"`
}

type serviceEventOut struct {
	ID        string       `json:"id"`
	CreatedAt epochSeconds `json:"createdAt"`
	Message   string       `json:"message"`
}

// serviceView is the ECS shape of s. live, when not nil, are the service's
// tasks that are not STOPPED: the counts then show them as they are now
// rather than as the scheduler last saw them.
func (a *API) serviceView(s store.Service, live []store.LiveTask, withTags bool) serviceOut {
	out := serviceOut{
		ServiceArn: s.ARN, ServiceName: s.Name, ClusterArn: s.ClusterARN, Status: s.Status,
		DesiredCount: s.DesiredCount, LaunchType: s.LaunchType, TaskDefinition: s.TaskDefinitionARN,
		DeploymentConfiguration: deploymentConfigOut(s.DeploymentConfiguration),
		Deployments:             []deploymentOut{}, Events: []serviceEventOut{},
		CreatedAt:            epochSeconds(s.CreatedAt),
		PlacementConstraints: nonNil(s.PlacementConstraints), PlacementStrategy: nonNil(s.PlacementStrategy),
		SchedulingStrategy:   s.SchedulingStrategy,
		DeploymentController: map[string]string{"type": "ECS"},
		LoadBalancers:        []struct{}{}, ServiceRegistries: []struct{}{},
		CreatedBy: s.CreatedBy, EnableECSManagedTags: s.EnableECSManagedTags, PropagateTags: s.PropagateTags,
	}
	if withTags {
		out.Tags = nonNil(s.Tags)
	}
	for _, d := range s.Deployments {
		if live != nil {
			d.RunningCount, d.PendingCount = 0, 0
			for _, t := range live {
				if t.StartedBy != d.ID {
					continue
				}
				switch t.LastStatus {
				case store.TaskRunning:
					d.RunningCount++
				case store.TaskPending:
					d.PendingCount++
				}
			}
		}
		out.RunningCount += d.RunningCount
		out.PendingCount += d.PendingCount
		out.Deployments = append(out.Deployments, deploymentOut{
			ID: d.ID, Status: d.Status, TaskDefinition: d.TaskDefinitionARN, DesiredCount: d.DesiredCount,
			PendingCount: d.PendingCount, RunningCount: d.RunningCount, FailedTasks: d.FailedTasks,
			CreatedAt: epochSeconds(d.CreatedAt), UpdatedAt: epochSeconds(d.UpdatedAt), LaunchType: d.LaunchType,
			RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason,
		})
	}
	for _, e := range s.Events {
		out.Events = append(out.Events, serviceEventOut{ID: e.ID, CreatedAt: epochSeconds(e.CreatedAt), Message: e.Message})
	}
	return out
}

// serviceName turns a service reference (name or ARN, with or without the
// cluster) into a name; ok=false when it cannot name a service of cluster.
func (a *API) serviceName(cluster, ref string) (string, bool) {
	if rest, isARN := strings.CutPrefix(ref, a.arnPrefix()+"service/"); isARN {
		if c, name, hasCluster := strings.Cut(rest, "/"); hasCluster {
			if c != cluster {
				return "", false
			}
			ref = name
		} else {
			ref = rest
		}
	}
	return ref, serviceNameRE.MatchString(ref)
}

// lookupService finds the service ref names in cluster, in any status.
func (a *API) lookupService(tx store.Tx, cluster, ref string) (store.Service, bool, error) {
	name, ok := a.serviceName(cluster, ref)
	if !ok {
		return store.Service{}, false, nil
	}
	s, err := tx.Service(cluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return s, false, nil
	}
	if err != nil {
		return s, false, internal("read service", err)
	}
	return s, true, nil
}

// activeService finds an ACTIVE service or fails as ECS does.
func (a *API) activeService(tx store.Tx, cluster, ref string) (store.Service, error) {
	s, found, err := a.lookupService(tx, cluster, ref)
	switch {
	case err != nil:
		return s, err
	case !found:
		return s, clientErr(CodeServiceNotFound, msgServiceNotFound)
	case s.Status != store.ServiceActive:
		return s, clientErr(CodeServiceNotActive, msgServiceNotActive)
	}
	return s, nil
}

// liveServiceTasks returns the cluster's tasks that are not STOPPED by
// service name.
func liveServiceTasks(tx store.Tx, cluster string) (map[string][]store.LiveTask, error) {
	tasks, err := tx.LiveTaskSummaries(cluster, "")
	if err != nil {
		return nil, internal("list tasks", err)
	}
	out := map[string][]store.LiveTask{}
	for _, t := range tasks {
		if name, ok := strings.CutPrefix(t.Group, "service:"); ok {
			out[name] = append(out[name], t)
		}
	}
	return out, nil
}

type describeServicesInput struct {
	Cluster  string   `json:"cluster"`
	Services []string `json:"services"`
	Include  []string `json:"include"`
}

func (a *API) describeServices(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in describeServicesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 {
		return nil, invalidParam("services can not be empty.")
	}
	if len(in.Services) > 10 {
		return nil, invalidParam("services can have at most 10 items.")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" {
			return nil, invalidParam("Invalid include value: %s", inc)
		}
	}
	withTags := slices.Contains(in.Include, "TAGS")
	var services []serviceOut
	var failures []failure
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		live, err := liveServiceTasks(tx, c.Name)
		if err != nil {
			return err
		}
		services, failures, err = describeEach(in.Services, func(ref string) (serviceOut, *failure, error) {
			s, found, err := a.lookupService(tx, c.Name, ref)
			if err != nil {
				return serviceOut{}, nil, err
			}
			if !found {
				arn := ref
				if name, ok := a.serviceName(c.Name, ref); ok {
					arn = a.serviceARN(c.Name, name)
				}
				return serviceOut{}, &failure{ARN: arn, Reason: reasonMissing}, nil
			}
			return a.serviceView(s, nonNil(live[s.Name]), withTags), nil, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

type listServicesInput struct {
	Cluster            string `json:"cluster"`
	LaunchType         string `json:"launchType"`
	SchedulingStrategy string `json:"schedulingStrategy"`
	listInput
}

func (a *API) listServices(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listServicesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch in.LaunchType {
	case "", "EC2", "FARGATE", "EXTERNAL":
	default:
		return nil, invalidParam("launchType must be EC2, FARGATE or EXTERNAL, not %q.", in.LaunchType)
	}
	switch in.SchedulingStrategy {
	case "", store.SchedulingReplica, store.SchedulingDaemon:
	default:
		return nil, invalidParam("schedulingStrategy must be REPLICA or DAEMON, not %q.", in.SchedulingStrategy)
	}
	var cluster string
	var names []string
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		cluster = c.Name
		services, err := tx.Services(c.Name)
		if err != nil {
			return internal("list services", err)
		}
		for _, s := range services {
			if s.Status == store.ServiceInactive ||
				(in.LaunchType != "" && in.LaunchType != s.LaunchType) ||
				(in.SchedulingStrategy != "" && in.SchedulingStrategy != s.SchedulingStrategy) {
				continue
			}
			names = append(names, s.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return listPage(names, in.listInput, "serviceArns", func(name string) string { return a.serviceARN(cluster, name) })
}

// activeServiceCount counts the cluster's services that are ACTIVE or
// DRAINING: DescribeClusters' activeServicesCount, and what keeps
// DeleteCluster from deleting it.
func activeServiceCount(tx store.Tx, cluster string) (int, error) {
	all, err := tx.Services(cluster)
	if err != nil {
		return 0, internal("list services", err)
	}
	n := 0
	for _, s := range all {
		if s.Status != store.ServiceInactive {
			n++
		}
	}
	return n, nil
}
