// Package store persists the control plane's state. The Store interface
// hides the backend; Open returns the bbolt one, which keeps each record as
// a JSON value in a bucket per kind:
//
//	clusters:            <cluster name>        -> Cluster
//	container-instances: <cluster name>/<id>   -> ContainerInstance
//	task-definitions:    <family>/<revision, 10 digits> -> TaskDefinition
//	tasks:               <cluster name>/<id>   -> Task
//	client-tokens:       <operation>/<scope>/<token> -> ClientToken (tokens.go)
//	task-definition-families: <family> -> TaskDefinitionFamily (taskdef_delete.go)
//	services:            <cluster name>/<service name> -> Service (service.go)
//
// and, next to the tasks, secondary indexes whose keys alone carry the
// answer (values are empty), written in the same transaction as the task
// (see taskindex.go):
//
//	tasks-live:        <cluster>|<instance ARN>|<id>   lastStatus is not STOPPED
//	tasks-desired:     <cluster>|<desiredStatus>|<id>
//	tasks-undelivered: <instance ARN>|<cluster>|<id>   Task.NeedsDelivery
//	tasks-stopped:     <stoppedAt, 20-digit Unix ns>|<cluster>|<id>
//
// and, next to the task definitions, task-definitions-deleting
// (<family>|<revision>, the revisions being deleted), written by
// PutTaskDefinition and DeleteTaskDefinition.
//
// A bucket "ecs-controlplane" holds the schema version (schema.go); Open
// migrates an older file in order, one transaction per step, and refuses a
// newer, foreign, empty or damaged file with ErrCorrupt (open.go).
//
// Writers are serialised by the backend's transactions, so a read-check-write
// sequence inside one Update is atomic.
package store

import (
	"errors"
	"time"
)

var (
	// ErrNotFound is returned for a missing record.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt means the database file exists but cannot be used as it is:
	// empty, truncated, damaged, written by another program or by a newer
	// control plane. A restart cannot fix it; an operator must decide, so
	// the control plane never replaces such a file on its own.
	ErrCorrupt = errors.New("control plane database is unusable")
)

// TaskKey names a task: its cluster and ID.
type TaskKey struct {
	Cluster string
	ID      string
}

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
	// InstancesShared is Instances for a caller that only reads what it
	// gets: the values share their attributes, resources and tags with
	// the store's decode cache, so changing one would change what later
	// reads return. Placement reads every instance of a cluster for each
	// RunTask and service round, and copying the attributes of each was a
	// tenth of what the control plane allocated in a rollout.
	InstancesShared(cluster string) ([]ContainerInstance, error)

	// TaskDefinition returns one revision of a family.
	TaskDefinition(family string, revision int) (TaskDefinition, error)
	// PutTaskDefinition writes the revision and updates its index entry.
	PutTaskDefinition(td TaskDefinition) error
	// TaskDefinitions returns a family's revisions in ascending order;
	// every family's (by family, then revision) when family is "".
	TaskDefinitions(family string) ([]TaskDefinition, error)

	Task(cluster, id string) (Task, error)
	// PutTask writes the task and updates its index entries.
	PutTask(t Task) error
	// DeleteTask removes the task and its index entries; a missing task
	// is not an error.
	DeleteTask(cluster, id string) error
	// Tasks returns a cluster's tasks sorted by ID; every cluster's when
	// cluster is "". It reads every task, stopped ones included: prefer
	// the indexed reads below.
	Tasks(cluster string) ([]Task, error)

	// LiveTasks returns the tasks whose lastStatus is not STOPPED (those
	// that hold resources on their instance): of one instance when
	// instanceARN is set, else of the whole cluster; sorted by instance
	// ARN, then ID.
	LiveTasks(cluster, instanceARN string) ([]Task, error)
	// LiveTaskSummaries is LiveTasks reading only what a LiveTask holds.
	LiveTaskSummaries(cluster, instanceARN string) ([]LiveTask, error)
	// TaskIDsByDesired returns the sorted IDs of a cluster's tasks whose
	// desired status is desired, without reading the tasks.
	TaskIDsByDesired(cluster, desired string) ([]string, error)
	// UndeliveredTasks returns the tasks whose current desired status the
	// agent has not acknowledged (Task.NeedsDelivery): of one instance
	// when instanceARN is set, else of every instance.
	UndeliveredTasks(instanceARN string) ([]Task, error)
	// StoppedBefore returns up to limit tasks that reached STOPPED before
	// t, oldest first.
	StoppedBefore(t time.Time, limit int) ([]TaskKey, error)

	TaskDefinitionDeletionTx
	ClientTokenTx
	ServiceTx
}

// Store runs transactions. fn's error aborts an Update and is returned.
type Store interface {
	View(fn func(Tx) error) error
	Update(fn func(Tx) error) error
	// Batch is Update for small writes that many callers make at once (the
	// agents' state changes): calls that come together share one write
	// transaction and one sync to disk. fn may run more than once (when
	// another call of its batch fails, it is run again), so it must set
	// what it returns afresh on each run and have no effect outside tx.
	Batch(fn func(Tx) error) error
	Close() error
}
