// Package statemanager persists the agent's state: a few metadata keys and
// bucket-style JSON records (tasks, containers, images, attachments).
//
// Two backends implement Store and pass one test suite: Bolt (agent.db in
// ECS_DATADIR, used when ECS_CHECKPOINT is on) and Memory (checkpointing off,
// and tests). Values are stored as JSON so both backends behave the same and
// the file stays readable with bbolt tooling.
//
// agent.db is opened through internal/boltfile: only a missing file is
// created; an empty, truncated or damaged one is refused with ErrCorrupt and
// never reset. Its schema version is upgraded by the ordered migrations of
// schema.go.
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

import (
	"encoding/json"
	"errors"
	"fmt"
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

var (
	// ErrNotFound is returned by Get and Metadata.Get for a missing key.
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

// Store is the persistence interface: the few primitives a backend must
// provide. Helpers such as Metadata are written once on top of it.
// Implementations are safe for concurrent use.
type Store interface {
	// Get decodes the JSON stored under bucket/key into v, or ErrNotFound.
	Get(bucket, key string, v any) error
	// Put stores v as JSON under bucket/key.
	Put(bucket, key string, v any) error
	// PutMany stores every record in one transaction: on error none is
	// written. Records may span buckets, so that a task and its containers
	// are saved together.
	PutMany(recs ...Record) error
	// Delete removes bucket/key; deleting a missing key is not an error.
	Delete(bucket, key string) error
	// Apply makes every put and delete in one transaction, in order: on
	// error none is made. Changes may span buckets, so that a task and its
	// containers are removed together and a crash never leaves half a task.
	Apply(changes ...Change) error
	// ForEach calls fn for every record of bucket in key order with the raw
	// JSON of a consistent snapshot; fn may use the store. A non-nil error
	// from fn stops the walk and is returned.
	ForEach(bucket string, fn func(key string, raw []byte) error) error

	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// Record is one value for PutMany, stored as JSON under Bucket/Key.
type Record struct {
	Bucket, Key string
	Value       any
}

// Change is one put or delete for Apply.
type Change struct {
	Bucket, Key string
	Value       any  // stored as JSON
	Delete      bool // remove Bucket/Key instead; Value is ignored
}

// puts turns records into changes.
func puts(recs []Record) []Change {
	out := make([]Change, len(recs))
	for i, r := range recs {
		out[i] = Change{Bucket: r.Bucket, Key: r.Key, Value: r.Value}
	}
	return out
}

func checkBucket(bucket string) error {
	for _, b := range Buckets {
		if b == bucket {
			return nil
		}
	}
	return ErrUnknownBucket
}

// encoded is a Change checked and marshalled, ready for a backend to make.
type encoded struct {
	bucket, key string
	raw         []byte // nil for a delete
	delete      bool
}

// encodeAll checks and marshals every change before a backend starts its
// transaction, so a bad one fails the batch without writing anything.
func encodeAll(changes []Change) ([]encoded, error) {
	out := make([]encoded, 0, len(changes))
	for _, c := range changes {
		if err := checkBucket(c.Bucket); err != nil {
			return nil, fmt.Errorf("write %s/%s: %w", c.Bucket, c.Key, err)
		}
		if c.Delete {
			out = append(out, encoded{bucket: c.Bucket, key: c.Key, delete: true})
			continue
		}
		raw, err := json.Marshal(c.Value)
		if err != nil {
			return nil, fmt.Errorf("encode %s/%s: %w", c.Bucket, c.Key, err)
		}
		out = append(out, encoded{bucket: c.Bucket, key: c.Key, raw: raw})
	}
	return out, nil
}

// describe names the records of a batch for error messages.
func describe(enc []encoded) string {
	switch len(enc) {
	case 0:
		return "nothing"
	case 1:
		return enc[0].bucket + "/" + enc[0].key
	default:
		return fmt.Sprintf("%s/%s and %d more", enc[0].bucket, enc[0].key, len(enc)-1)
	}
}
