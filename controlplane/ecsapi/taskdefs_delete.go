package ecsapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// maxDeleteTaskDefinitions is ECS's limit on one DeleteTaskDefinitions.
const maxDeleteTaskDefinitions = 10

// Failure reasons of DeleteTaskDefinitions.
const (
	reasonTaskDefInvalid  = "The specified task definition identifier is invalid: use family:revision or the task definition ARN."
	reasonTaskDefMissing  = "The specified task definition does not exist."
	reasonTaskDefIsActive = "The specified task definition is ACTIVE: deregister it (DeregisterTaskDefinition) before deleting it."
)

type deleteTaskDefinitionsInput struct {
	TaskDefinitions []string `json:"taskDefinitions"`
}

// deleteTaskDefinitions moves INACTIVE revisions to DELETE_IN_PROGRESS, as
// ECS does. From then on no task can run them; the control plane's pruner
// removes each at its next round (at most a minute) after no task short
// of STOPPED uses it (store.Pruner.FinishTaskDefinitionDeletions), and the
// family's next revision is still numbered after it. An ACTIVE, missing or
// malformed revision is a failure; the others are still deleted.
func (a *API) deleteTaskDefinitions(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var in deleteTaskDefinitionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TaskDefinitions) == 0 {
		return nil, invalidParam("taskDefinitions can not be empty.")
	}
	if len(in.TaskDefinitions) > maxDeleteTaskDefinitions {
		return nil, invalidParam("taskDefinitions has %d entries; at most %d are allowed in one call.", len(in.TaskDefinitions), maxDeleteTaskDefinitions)
	}
	var deleted []taskDefOut
	var failures []failure
	err := a.update(func(tx store.Tx) error {
		var err error
		deleted, failures, err = describeEach(in.TaskDefinitions, func(ref string) (taskDefOut, *failure, error) {
			r, ok := a.parseTaskDefRef(ref)
			if !ok || r.revision == 0 {
				return taskDefOut{}, &failure{ARN: ref, Reason: reasonTaskDefInvalid}, nil
			}
			arn := a.taskDefinitionARN(r.family, r.revision)
			td, err := tx.TaskDefinition(r.family, r.revision)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return taskDefOut{}, &failure{ARN: arn, Reason: reasonTaskDefMissing}, nil
			case err != nil:
				return taskDefOut{}, nil, internal("read task definition", err)
			case td.Status == store.StatusActive:
				return taskDefOut{}, &failure{ARN: arn, Reason: reasonTaskDefIsActive}, nil
			case td.Status == store.StatusInactive:
				td.Status = store.TaskDefinitionDeleteInProgress
				if err := tx.PutTaskDefinition(td); err != nil {
					return taskDefOut{}, nil, internal("write task definition", err)
				}
			}
			return taskDefView(td), nil, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, td := range deleted {
		a.log.Info("task definition deletion requested", logKeyTaskDefinition, td.ARN, logging.KeyStatus, td.Status)
	}
	return map[string]any{"taskDefinitions": deleted, "failures": failures}, nil
}
