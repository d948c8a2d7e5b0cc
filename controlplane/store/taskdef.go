package store

// TaskDefinition is one registered revision of a task definition family,
// keyed by Family and Revision. JSON tags are the ECS API member names so
// the API layer can return it as it is.
// (Skeleton: the task-definition work fills in the container definitions.)
type TaskDefinition struct {
	ARN      string `json:"taskDefinitionArn"`
	Family   string `json:"family"`
	Revision int    `json:"revision"`
	Status   string `json:"status"` // ACTIVE or INACTIVE
}
