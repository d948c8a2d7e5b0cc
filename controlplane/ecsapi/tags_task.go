package ecsapi

import (
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// propagateTags values (ECS's PropagateTags).
const (
	PropagateNone           = "NONE"
	PropagateTaskDefinition = "TASK_DEFINITION"
	PropagateService        = "SERVICE"
)

// The tags ECS manages on tasks when enableECSManagedTags is set.
const (
	managedTagCluster = "aws:ecs:clusterName"
	managedTagService = "aws:ecs:serviceName"
)

// taskTagging is what a request that starts tasks says about their tags:
// RunTask's and StartTask's members, and a service's (CreateService).
type taskTagging struct {
	// Tags are the request's own; validateTags has checked them.
	Tags []store.Tag `json:"tags"`
	// PropagateTags copies the task definition's tags (TASK_DEFINITION)
	// or the service's (SERVICE) to each task; "" or NONE copies none.
	PropagateTags string `json:"propagateTags"`
	// EnableECSManagedTags adds aws:ecs:clusterName (and
	// aws:ecs:serviceName for a service's tasks).
	EnableECSManagedTags *bool `json:"enableECSManagedTags"`
}

// validatePropagateTags checks a propagateTags member; SERVICE only makes
// sense for a service's tasks (forService).
func validatePropagateTags(value string, forService bool) error {
	switch value {
	case "", PropagateNone, PropagateTaskDefinition:
		return nil
	case PropagateService:
		if forService {
			return nil
		}
		return invalidParam("propagateTags SERVICE is for the tasks of a service; RunTask and StartTask take TASK_DEFINITION or NONE.")
	}
	return invalidParam("propagateTags must be TASK_DEFINITION, SERVICE or NONE, not %q.", value)
}

// taskService is the service a task is started for, as its tags need it.
type taskService struct {
	Name string
	Tags []store.Tag
}

// tagsForTask computes a new task's tags: the propagated ones (the task
// definition's or the service's), then the request's, which win over a
// propagated tag with the same key, then ECS's managed tags. More than
// maxTags tags of the user's are refused, naming where they came from.
// svc is nil for tasks that no service starts.
func tagsForTask(tt taskTagging, cluster string, td store.TaskDefinition, svc *taskService) ([]store.Tag, error) {
	var propagated []store.Tag
	switch tt.PropagateTags {
	case PropagateTaskDefinition:
		propagated = td.Tags
	case PropagateService:
		if svc != nil {
			propagated = svc.Tags
		}
	}
	tags := mergeByKey(nil, propagated, tagKey)
	tags = mergeByKey(tags, tt.Tags, tagKey)
	if n := countUserTags(tags); n > maxTags {
		return nil, invalidParam("The task would have %d tags (the request's %d and %d propagated from the %s); at most %d are allowed.",
			n, len(tt.Tags), len(propagated), propagateSource(tt.PropagateTags), maxTags)
	}
	if tt.EnableECSManagedTags != nil && *tt.EnableECSManagedTags {
		tags = mergeByKey(tags, []store.Tag{{Key: managedTagCluster, Value: cluster}}, tagKey)
		if svc != nil {
			tags = mergeByKey(tags, []store.Tag{{Key: managedTagService, Value: svc.Name}}, tagKey)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

func countUserTags(tags []store.Tag) int {
	n := 0
	for _, t := range tags {
		if !reservedTag(t.Key) {
			n++
		}
	}
	return n
}

func propagateSource(p string) string {
	if p == PropagateService {
		return "service"
	}
	return "task definition"
}
