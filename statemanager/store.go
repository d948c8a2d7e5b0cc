// Package statemanager persists the agent's state: a few metadata keys and
// bucket-style JSON records (tasks, containers, images, attachments).
//
// Two backends implement Store and pass one test suite: Bolt (agent.db in
// ECS_DATADIR, used when ECS_CHECKPOINT is on) and Memory (checkpointing off,
// and tests). Values are stored as JSON so both backends behave the same and
// the file stays readable with bbolt tooling.
//
// Layout of agent.db (bucket: key → value):
//
//	open-ecs:   schema-version → "1"    (ours; absent in a foreign file)
//	metadata:   agent-version, availability-zone, cluster-name,
//	            container-instance-arn, ec2-instance-id → JSON string
//	tasks:      task ID → task JSON
//	containers: <taskId>-<containerName> → container JSON
//	images:     image ID → image state JSON
//	eniattachments, resattachments: attachment ID → JSON
package statemanager

import "errors"

// Metadata keys, as the incumbent names them (reference §8.1).
const (
	KeyAgentVersion         = "agent-version"
	KeyAvailabilityZone     = "availability-zone"
	KeyClusterName          = "cluster-name"
	KeyContainerInstanceARN = "container-instance-arn"
	KeyEC2InstanceID        = "ec2-instance-id"
	KeyTaskManifestSeqNum   = "task-manifest-seq-num"
)

// Record buckets.
const (
	BucketMetadata       = "metadata"
	BucketTasks          = "tasks"
	BucketContainers     = "containers"
	BucketImages         = "images"
	BucketENIAttachments = "eniattachments"
	BucketResAttachments = "resattachments"
)

// Buckets lists every record bucket a Store accepts.
var Buckets = []string{
	BucketMetadata, BucketTasks, BucketContainers, BucketImages,
	BucketENIAttachments, BucketResAttachments,
}

// SchemaVersion is the layout version this code writes and understands.
const SchemaVersion = 1

var (
	// ErrNotFound is returned by Get and GetMetadata for a missing key.
	ErrNotFound = errors.New("not found")
	// ErrUnknownBucket is returned for a bucket name not in Buckets.
	ErrUnknownBucket = errors.New("unknown bucket")
	// ErrInUse means another process (usually a second agent) holds the
	// state file's lock.
	ErrInUse = errors.New("state file is in use by another process")
	// ErrCorrupt means the state file is unreadable, foreign, or from a newer
	// schema. It is never reset silently: the operator decides.
	ErrCorrupt = errors.New("state file is corrupt or not ours")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store is closed")
)

// Store is the persistence interface. Implementations are safe for
// concurrent use.
type Store interface {
	// GetMetadata returns the metadata value for key, or ErrNotFound.
	GetMetadata(key string) (string, error)
	// PutMetadata stores one metadata value.
	PutMetadata(key, value string) error
	// PutMetadataMap stores several metadata values in one transaction.
	PutMetadataMap(kv map[string]string) error

	// Put stores v as JSON under bucket/key.
	Put(bucket, key string, v any) error
	// Get decodes the JSON stored under bucket/key into v, or ErrNotFound.
	Get(bucket, key string, v any) error
	// Delete removes bucket/key; deleting a missing key is not an error.
	Delete(bucket, key string) error
	// ForEach calls fn for every record of bucket in key order with the raw
	// JSON of a consistent snapshot; fn may use the store. A non-nil error
	// from fn stops the walk and is returned.
	ForEach(bucket string, fn func(key string, raw []byte) error) error

	// Close releases the store; later calls return ErrClosed.
	Close() error
}

func checkBucket(bucket string) error {
	for _, b := range Buckets {
		if b == bucket {
			return nil
		}
	}
	return ErrUnknownBucket
}
