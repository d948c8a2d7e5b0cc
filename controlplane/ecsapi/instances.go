package ecsapi

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// lookupInstance finds ref (ID or ARN) in cluster. ok=false means no such
// instance; err is only for store failures.
func (a *API) lookupInstance(tx store.Tx, cluster, ref string) (store.ContainerInstance, bool, error) {
	r, ok := a.parseInstanceRef(ref)
	if !ok || (r.isARN && r.cluster != cluster) {
		return store.ContainerInstance{}, false, nil
	}
	ci, err := tx.Instance(cluster, r.id)
	if errors.Is(err, store.ErrNotFound) {
		return ci, false, nil
	}
	if err != nil {
		return ci, false, internal("read container instance", err)
	}
	return ci, true, nil
}

// authorizeOnInstance asks authz whether principal may perform op on the
// container instance arn of cluster. Admin keys skip the lookup.
func (a *API) authorizeOnInstance(tx store.Tx, principal authz.Principal, op, cluster, arn string) error {
	if principal.Role == authz.RoleAdmin {
		return nil
	}
	ci, _, err := a.lookupInstance(tx, cluster, arn)
	if err != nil {
		return err
	}
	// An instance that is not found has no owner: only an admin may act.
	return principal.Authorize(op, &authz.Instance{ARN: arn, Owner: ci.Owner})
}

// missingARN is the ARN a failure names: the full ARN when ref is a bare ID.
func (a *API) missingARN(cluster, ref string) string {
	if r, ok := a.parseInstanceRef(ref); ok && !r.isARN {
		return a.instanceARN(cluster, r.id)
	}
	return ref
}

// eachInstance resolves refs in cluster, in request order, and applies fn to
// the instances found; a ref that names no instance is a MISSING failure.
func (a *API) eachInstance(tx store.Tx, cluster string, refs []string,
	fn func(store.ContainerInstance) (instanceOut, *failure, error),
) ([]instanceOut, []failure, error) {
	return describeEach(refs, func(ref string) (instanceOut, *failure, error) {
		ci, found, err := a.lookupInstance(tx, cluster, ref)
		if err != nil {
			return instanceOut{}, nil, err
		}
		if !found {
			return instanceOut{}, &failure{ARN: a.missingARN(cluster, ref), Reason: reasonMissing}, nil
		}
		return fn(ci)
	})
}

type deregisterInput struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	Force             *bool  `json:"force"`
}

// deregisterContainerInstance marks the instance INACTIVE and tells the ACS
// server to drop its sessions. Without force it refuses while tasks that
// are not STOPPED are on the instance; with force those tasks are orphaned,
// as in ECS: they keep their records but nothing places on the instance.
func (a *API) deregisterContainerInstance(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in deregisterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ContainerInstance == "" {
		return nil, invalidParam("containerInstance can not be blank.")
	}
	var ci store.ContainerInstance
	changed := false
	err := a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		var found bool
		ci, found, err = a.lookupInstance(tx, c.Name, in.ContainerInstance)
		if err != nil {
			return err
		}
		if !found {
			return invalidParam("Container instance %s not found.", in.ContainerInstance)
		}
		if err := principalOf(ctx).Authorize("DeregisterContainerInstance", &authz.Instance{ARN: ci.ARN, Owner: ci.Owner}); err != nil {
			return err
		}
		if ci.Status == store.StatusInactive {
			return nil
		}
		if in.Force == nil || !*in.Force {
			if err := a.refuseWithTasks(tx, ci); err != nil {
				return err
			}
		}
		ci.Status = store.StatusInactive
		ci.AgentConnected = false
		ci.Version++
		ci.UpdatedAt = a.now()
		changed = true
		if err := tx.PutInstance(ci); err != nil {
			return internal("write container instance", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		a.log.Info("container instance deregistered", logging.KeyContainerInstance, ci.ARN)
		if a.o.OnDeregister != nil {
			a.o.OnDeregister(ci.ARN)
		}
	}
	return map[string]any{"containerInstance": instanceView(ci, false)}, nil
}

type describeInstancesInput struct {
	Cluster            string   `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Include            []string `json:"include"`
}

func (a *API) describeContainerInstances(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in describeInstancesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, invalidParam("containerInstances can not be empty.")
	}
	if len(in.ContainerInstances) > 100 {
		return nil, invalidParam("containerInstances can have at most 100 items.")
	}
	for _, inc := range in.Include {
		if inc != "TAGS" && inc != "CONTAINER_INSTANCE_HEALTH" {
			return nil, invalidParam("Invalid include value: %s", inc)
		}
	}
	withTags := slices.Contains(in.Include, "TAGS")
	withHealth := slices.Contains(in.Include, "CONTAINER_INSTANCE_HEALTH")

	var instances []instanceOut
	var failures []failure
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		byInstance, err := tasksByInstance(tx, c.Name)
		if err != nil {
			return err
		}
		instances, failures, err = a.eachInstance(tx, c.Name, in.ContainerInstances,
			func(ci store.ContainerInstance) (instanceOut, *failure, error) {
				out := withTasks(instanceView(ci, withTags), ci.RegisteredResources, byInstance[ci.ARN])
				if withHealth {
					out.HealthStatus = a.instanceHealth(ci.ARN)
				}
				return out, nil, nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"containerInstances": instances, "failures": failures}, nil
}

type listInstancesInput struct {
	Cluster string `json:"cluster"`
	Filter  string `json:"filter"`
	Status  string `json:"status"`
	listInput
}

var listableStatuses = []string{"ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"}

func (a *API) listContainerInstances(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in listInstancesInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Status != "" && !slices.Contains(listableStatuses, in.Status) {
		return nil, invalidParam("Invalid status: %s", in.Status)
	}
	var filter scheduler.Expr
	if in.Filter != "" {
		var err error
		if filter, err = scheduler.ParseFilter(in.Filter); err != nil {
			return nil, placementErr(err)
		}
	}
	var ids []string
	arns := map[string]string{}
	err := a.o.Store.View(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		instances, err := tx.Instances(c.Name)
		if err != nil {
			return internal("list container instances", err)
		}
		// Without a status filter ECS lists every state but INACTIVE.
		instances = slices.DeleteFunc(instances, func(ci store.ContainerInstance) bool {
			return (in.Status == "" && ci.Status == store.StatusInactive) || (in.Status != "" && ci.Status != in.Status)
		})
		matches, err := filterInstances(tx, c.Name, instances, filter)
		if err != nil {
			return err
		}
		for i, ci := range instances {
			if matches[i] {
				ids = append(ids, ci.ID)
				arns[ci.ID] = ci.ARN
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return listPage(ids, in.listInput, "containerInstanceArns", func(id string) string { return arns[id] })
}

// filterInstances reports, for each instance, whether filter (nil: none)
// matches it. The instances' tasks are read only for a filter.
func filterInstances(tx store.Tx, cluster string, instances []store.ContainerInstance, filter scheduler.Expr) ([]bool, error) {
	out := make([]bool, len(instances))
	if filter == nil {
		for i := range out {
			out[i] = true
		}
		return out, nil
	}
	tasks, err := tx.LiveTaskSummaries(cluster, "")
	if err != nil {
		return nil, internal("list tasks", err)
	}
	for i, si := range placementInstances(instances, tasks) {
		out[i] = filter.Match(si)
	}
	return out, nil
}

type updateStateInput struct {
	Cluster            string   `json:"cluster"`
	ContainerInstances []string `json:"containerInstances"`
	Status             string   `json:"status"`
}

func (a *API) updateContainerInstancesState(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var in updateStateInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ContainerInstances) == 0 {
		return nil, invalidParam("containerInstances can not be empty.")
	}
	if len(in.ContainerInstances) > 10 {
		return nil, invalidParam("containerInstances can have at most 10 items.")
	}
	if in.Status == "" {
		return nil, invalidParam("status can not be blank.")
	}
	if in.Status != store.StatusActive && in.Status != store.StatusDraining {
		return nil, invalidParam("Container instances status can only be updated to ACTIVE or DRAINING.")
	}

	var instances []instanceOut
	var failures []failure
	err := a.update(func(tx store.Tx) error {
		c, err := a.activeCluster(tx, in.Cluster)
		if err != nil {
			return err
		}
		instances, failures, err = a.eachInstance(tx, c.Name, in.ContainerInstances,
			func(ci store.ContainerInstance) (instanceOut, *failure, error) {
				// One instance of another key refuses the whole request, as IAM does.
				if err := principalOf(ctx).Authorize("UpdateContainerInstancesState", &authz.Instance{ARN: ci.ARN, Owner: ci.Owner}); err != nil {
					return instanceOut{}, nil, err
				}
				if ci.Status == store.StatusInactive {
					return instanceOut{}, &failure{ARN: ci.ARN, Reason: store.StatusInactive}, nil
				}
				if ci.Status != in.Status {
					ci.Status = in.Status
					ci.Version++
					ci.UpdatedAt = a.now()
					if err := tx.PutInstance(ci); err != nil {
						return instanceOut{}, nil, internal("write container instance", err)
					}
				}
				return instanceView(ci, false), nil, nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"containerInstances": instances, "failures": failures}, nil
}
