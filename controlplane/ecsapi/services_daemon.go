package ecsapi

import (
	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/services"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// reserveForDaemons returns the candidates with room held on each for the
// task of every DAEMON service of the cluster (but except) that must run
// on it and does not yet: REPLICA placement then never takes the CPU,
// memory or ports an instance's DAEMON tasks need.
//
// This goes beyond ECS, which places replica tasks without regard to the
// daemons an instance has still to start (docs/services.md).
func (a *API) reserveForDaemons(tx store.Tx, cluster, except string, candidates []scheduler.Instance) ([]scheduler.Instance, error) {
	all, err := tx.Services(cluster)
	if err != nil {
		return nil, internal("list services", err)
	}
	for _, svc := range all {
		p := svc.Primary()
		if svc.Name == except || svc.Status != store.ServiceActive || svc.SchedulingStrategy != store.SchedulingDaemon || p == nil {
			continue
		}
		td, err := tx.TaskDefinition(p.Family, p.Revision)
		if err != nil {
			continue // a deleted revision starts no task
		}
		resolved, err := payload.Resolve(td, nil)
		if err != nil {
			continue
		}
		need := taskNeed(resolved)
		eligible := services.EligibleInstances(svc, candidates)
		group := serviceGroup(svc.Name)
		for i := range candidates {
			c := &candidates[i]
			if !eligible[c.ARN] || c.Groups[group] > 0 {
				continue
			}
			c.Used.CPU += need.CPU
			c.Used.MemoryMiB += need.MemoryMiB
			c.Used.GPUs += need.GPUs
			c.Used.PortsTCP = append(c.Used.PortsTCP, need.PortsTCP...)
			c.Used.PortsUDP = append(c.Used.PortsUDP, need.PortsUDP...)
		}
	}
	return candidates, nil
}
