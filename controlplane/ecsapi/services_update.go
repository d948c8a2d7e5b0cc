package ecsapi

import (
	"context"
	"net/http"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

type updateServiceInput struct {
	Cluster                 string                  `json:"cluster"`
	Service                 string                  `json:"service"`
	DesiredCount            *int                    `json:"desiredCount"`
	TaskDefinition          string                  `json:"taskDefinition"`
	DeploymentConfiguration *deploymentConfigIn     `json:"deploymentConfiguration"`
	PlacementConstraints    *[]scheduler.Constraint `json:"placementConstraints"`
	PlacementStrategy       *[]scheduler.Strategy   `json:"placementStrategy"`
	ForceNewDeployment      bool                    `json:"forceNewDeployment"`
	EnableECSManagedTags    *bool                   `json:"enableECSManagedTags"`
	PropagateTags           string                  `json:"propagateTags"`
	EnableExecuteCommand    *bool                   `json:"enableExecuteCommand"`
	unsupportedServiceMembers
}

func (in *updateServiceInput) validate() error {
	if in.Service == "" {
		return invalidParam("service can not be blank.")
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return invalidParam("desiredCount can not be negative.")
	}
	if in.EnableExecuteCommand != nil && *in.EnableExecuteCommand {
		return invalidParam("enableExecuteCommand is not supported: this control plane has no ECS Exec.")
	}
	var constraints []scheduler.Constraint
	var strategies []scheduler.Strategy
	if in.PlacementConstraints != nil {
		constraints = *in.PlacementConstraints
	}
	if in.PlacementStrategy != nil {
		strategies = *in.PlacementStrategy
	}
	if err := validatePlacement(constraints, strategies); err != nil {
		return err
	}
	if err := validatePropagateTags(in.PropagateTags, true); err != nil {
		return err
	}
	return in.unsupportedServiceMembers.validate()
}

// updateService changes an ACTIVE service. A new task definition, or
// forceNewDeployment, starts a new PRIMARY deployment (the former one
// becomes ACTIVE and is rolled away by the scheduler); a new desiredCount
// applies to the PRIMARY deployment at once.
func (a *API) updateService(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in updateServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	var svc store.Service
	var deployed *store.Deployment
	err := a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		if svc, err = a.activeService(tx, c.Name, in.Service); err != nil {
			return err
		}
		daemon := svc.SchedulingStrategy == store.SchedulingDaemon
		if daemon && in.DesiredCount != nil {
			return invalidParam("The daemon scheduling strategy does not support a desired count for services.")
		}
		if daemon && in.PlacementStrategy != nil && len(*in.PlacementStrategy) > 0 {
			return invalidParam("The daemon scheduling strategy does not support placement strategies.")
		}
		if svc.DeploymentConfiguration, err = deploymentConfig(in.DeploymentConfiguration, svc.DeploymentConfiguration, svc.SchedulingStrategy); err != nil {
			return err
		}
		if in.DesiredCount != nil {
			svc.DesiredCount = *in.DesiredCount
		}
		if in.PlacementConstraints != nil {
			svc.PlacementConstraints = storeConstraints(*in.PlacementConstraints)
		}
		if in.PlacementStrategy != nil {
			svc.PlacementStrategy = storeStrategies(*in.PlacementStrategy)
		}
		if in.PropagateTags != "" {
			svc.PropagateTags = in.PropagateTags
		}
		if in.EnableECSManagedTags != nil {
			svc.EnableECSManagedTags = *in.EnableECSManagedTags
		}
		primary := svc.Primary()
		td := store.TaskDefinition{ARN: svc.TaskDefinitionARN}
		if in.TaskDefinition != "" {
			if td, err = a.serviceTaskDefinition(tx, in.TaskDefinition); err != nil {
				return err
			}
		}
		if primary == nil || td.ARN != primary.TaskDefinitionARN || in.ForceNewDeployment {
			if td.Family == "" { // forced: the current revision again
				if td, err = a.deployedTaskDefinition(tx, svc.TaskDefinitionARN); err != nil {
					return err
				}
			}
			d := a.startDeployment(&svc, td)
			deployed = &d
		} else if in.DesiredCount != nil {
			primary.DesiredCount = svc.DesiredCount
			primary.UpdatedAt = a.now()
		}
		// The scheduler writes "has reached a steady state" again once the
		// change is rolled out.
		svc.Steady = false
		return putOrInternal(tx.PutService(svc), "write service")
	})
	if err != nil {
		return nil, err
	}
	if deployed != nil {
		a.log.Info("service deployment started", logKeyService, svc.ARN, logKeyTaskDefinition, deployed.TaskDefinitionARN, logKeyDeployment, deployed.ID)
	} else {
		a.log.Info("service updated", logKeyService, svc.ARN, logging.KeyCount, svc.DesiredCount)
	}
	a.servicesChanged()
	return map[string]any{"service": a.serviceView(svc, nil, false)}, nil
}

const logKeyDeployment = "deployment"

// deployedTaskDefinition reads a revision a service already deploys; it
// may have been deregistered since (ECS keeps running it), but not deleted.
func (a *API) deployedTaskDefinition(tx store.Tx, arn string) (store.TaskDefinition, error) {
	td, found, err := a.lookupTaskDefinition(tx, arn)
	if err != nil {
		return td, err
	}
	if !found || td.Status == store.TaskDefinitionDeleteInProgress {
		return td, invalidParam("TaskDefinition %s of the service was deleted: update the service with another one.", arn)
	}
	return td, nil
}

// startDeployment makes a new PRIMARY deployment of td; the former PRIMARY
// becomes ACTIVE. The service's start failures are forgotten: the new
// revision gets a fresh start.
func (a *API) startDeployment(svc *store.Service, td store.TaskDefinition) store.Deployment {
	for i := range svc.Deployments {
		if svc.Deployments[i].Status == store.DeploymentPrimary {
			svc.Deployments[i].Status = store.DeploymentActive
			svc.Deployments[i].UpdatedAt = a.now()
		}
	}
	d := a.newDeployment(td, svc.DesiredCount, serviceLaunchType(*svc))
	svc.Deployments = append([]store.Deployment{d}, svc.Deployments...)
	svc.TaskDefinitionARN = td.ARN
	svc.StartFailures = 0
	svc.BackoffUntil = time.Time{}
	return d
}

type deleteServiceInput struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	Force   *bool  `json:"force"`
}

// deleteService moves the service to DRAINING with a desired count of 0:
// the scheduler stops its tasks and makes it INACTIVE once none is left.
// A REPLICA service still scaled above 0 needs force, as in ECS.
func (a *API) deleteService(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in deleteServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, invalidParam("service can not be blank.")
	}
	force := in.Force != nil && *in.Force
	var svc store.Service
	err := a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		if svc, err = a.activeService(tx, c.Name, in.Service); err != nil {
			return err
		}
		if svc.SchedulingStrategy == store.SchedulingReplica && svc.DesiredCount > 0 && !force {
			return invalidParam("The service cannot be stopped while it is scaled above 0.")
		}
		svc.Status = store.ServiceDraining
		svc.DesiredCount = 0
		if p := svc.Primary(); p != nil {
			p.DesiredCount = 0
			p.UpdatedAt = a.now()
		}
		return putOrInternal(tx.PutService(svc), "write service")
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("service deleted: draining", logKeyService, svc.ARN)
	a.servicesChanged()
	return map[string]any{"service": a.serviceView(svc, nil, false)}, nil
}
