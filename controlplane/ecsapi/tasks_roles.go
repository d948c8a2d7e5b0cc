package ecsapi

import (
	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// roleRefusal says why a task with roles cannot be placed: the control
// plane has no source of role credentials. "" means it can be.
func (a *API) roleRefusal(l *launch) string {
	if a.o.RoleSource != "" {
		return ""
	}
	var roles []string
	if l.resolved.TaskRoleARN != "" {
		roles = append(roles, "taskRoleArn "+l.resolved.TaskRoleARN)
	}
	if l.resolved.ExecutionRoleARN != "" {
		roles = append(roles, "executionRoleArn "+l.resolved.ExecutionRoleARN)
	}
	if len(roles) == 0 {
		return ""
	}
	reason := "ROLE: the task has "
	for i, r := range roles {
		if i > 0 {
			reason += " and "
		}
		reason += r
	}
	return reason + ", but this control plane issues no role credentials: start ecs-controlplane with " +
		"-sts-endpoint URL (STS AssumeRole) or -roles FILE (static keys per role)"
}

// roleCredentials names the credentials of a new task's roles. Their IDs
// are random, so that no task can guess another's.
func roleCredentials(resolved store.TaskDefinition) []store.TaskRoleCredentials {
	var out []store.TaskRoleCredentials
	if arn := resolved.TaskRoleARN; arn != "" {
		out = append(out, store.TaskRoleCredentials{Type: store.RoleTypeTask, ID: uuid.NewString(), RoleARN: arn})
	}
	if arn := resolved.ExecutionRoleARN; arn != "" {
		out = append(out, store.TaskRoleCredentials{Type: store.RoleTypeExecution, ID: uuid.NewString(), RoleARN: arn})
	}
	return out
}
