// Package store persists the control plane's clusters and container
// instances. The Store interface hides the backend; Open returns the bbolt
// one, which keeps each record as a JSON value in a bucket per kind:
//
//	clusters:            <cluster name>        -> Cluster
//	container-instances: <cluster name>/<id>   -> ContainerInstance
//	task-definitions:    <family>/<revision, 10 digits> -> TaskDefinition
//	tasks:               <cluster name>/<id>   -> Task
//	client-tokens:       <operation>/<scope>/<token> -> ClientToken (tokens.go)
//
// Writers are serialised by the backend's transactions, so a read-check-write
// sequence inside one Update is atomic.
package store

import "errors"

// ErrNotFound is returned for a missing record.
var ErrNotFound = errors.New("store: not found")

// Tx is a view of the store inside one transaction. Records are values:
// changing a returned record changes nothing until it is Put.
type Tx interface {
	Cluster(name string) (Cluster, error)
	PutCluster(c Cluster) error
	// Clusters returns every cluster, sorted by name.
	Clusters() ([]Cluster, error)

	Instance(cluster, id string) (ContainerInstance, error)
	PutInstance(ci ContainerInstance) error
	// Instances returns a cluster's instances, sorted by ID; every
	// cluster's when cluster is "".
	Instances(cluster string) ([]ContainerInstance, error)

	// TaskDefinition returns one revision of a family.
	TaskDefinition(family string, revision int) (TaskDefinition, error)
	PutTaskDefinition(td TaskDefinition) error
	// TaskDefinitions returns a family's revisions in ascending order;
	// every family's (by family, then revision) when family is "".
	TaskDefinitions(family string) ([]TaskDefinition, error)

	Task(cluster, id string) (Task, error)
	PutTask(t Task) error
	// Tasks returns a cluster's tasks sorted by ID; every cluster's when
	// cluster is "".
	Tasks(cluster string) ([]Task, error)

	ClientTokenTx
}

// Store runs transactions. fn's error aborts an Update and is returned.
type Store interface {
	View(fn func(Tx) error) error
	Update(fn func(Tx) error) error
	Close() error
}
