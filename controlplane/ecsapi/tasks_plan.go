package ecsapi

import (
	"errors"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// RunTask chooses its instances before it takes the write lock, which the
// agents' reports, acknowledgements and the service scheduler all wait
// for. Placing means reading every instance and live task of the cluster
// (500 instances and 1,000 tasks in the fleet benchmark, tens of
// milliseconds on a busy host); that is done in a read transaction, which
// waits for no one. The write transaction then reads only the chosen
// instances and their tasks again and places on them alone: what it
// writes is always a placement made on the state it commits, so two
// requests that chose the same room cannot both have it. When the chosen
// instances can no longer take every task (another writer filled them in
// between), or the plan placed nothing or failed, the write transaction
// places on the whole cluster, as it did before plans, and answers with
// the failures and errors of that placement.

// planRunTask returns the IDs of the instances a placement in a read
// transaction put count tasks of in on, or nil when it could not place all
// of them.
func (a *API) planRunTask(in runTaskInput, count int) []string {
	var chosen []string
	err := a.o.Store.View(func(tx store.Tx) error {
		l, err := a.prepare(tx, in.launchInput)
		if err != nil {
			return err
		}
		instances, tasks, err := placementState(tx, l.cluster.Name)
		if err != nil {
			return err
		}
		res, err := place(l, count, in.PlacementStrategy, in.PlacementConstraints, a.candidates(instances, tasks))
		if err != nil || len(res.Placements) != count {
			return err
		}
		picked := map[string]bool{}
		for _, arn := range res.Placements {
			picked[arn] = true
		}
		for _, ci := range instances {
			if picked[ci.ARN] {
				chosen = append(chosen, ci.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil // the write transaction meets the error again and answers it
	}
	return chosen
}

// placeOnPlan places count tasks of l on the planned instances as they
// are in tx, and writes them, when all count fit; it returns nil, and
// writes nothing, when they do not (the caller then places on the whole
// cluster).
func (a *API) placeOnPlan(tx store.Tx, l *launch, count int, in runTaskInput, plan []string) ([]store.Task, error) {
	if len(plan) == 0 || a.roleRefusal(l) != "" {
		return nil, nil // the whole-cluster placement words the refusal
	}
	instances := make([]store.ContainerInstance, 0, len(plan))
	var tasks []store.LiveTask
	for _, id := range plan {
		ci, err := tx.Instance(l.cluster.Name, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil // deregistered meanwhile
		}
		if err != nil {
			return nil, internal("read container instance", err)
		}
		mine, err := tx.LiveTaskSummaries(l.cluster.Name, ci.ARN)
		if err != nil {
			return nil, internal("list tasks", err)
		}
		instances = append(instances, ci)
		tasks = append(tasks, mine...)
	}
	res, err := place(l, count, in.PlacementStrategy, in.PlacementConstraints, a.candidates(instances, tasks))
	if err != nil {
		return nil, err
	}
	if len(res.Placements) != count {
		return nil, nil
	}
	created, _, err := a.writePlaced(tx, l, res, instances) // no failures: all placed, no refusal
	return created, err
}
