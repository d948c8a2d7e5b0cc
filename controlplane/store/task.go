package store

// Task is one task, keyed by Cluster (name) and ID (the last ARN segment).
// (Skeleton: the task work fills in the rest.)
type Task struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	ARN     string `json:"taskArn"`
}
