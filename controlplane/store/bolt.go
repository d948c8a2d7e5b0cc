package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file the control plane keeps in its data dir.
const FileName = "controlplane.db"

var (
	bucketClusters  = []byte("clusters")
	bucketInstances = []byte("container-instances")
	bucketTaskDefs  = []byte("task-definitions")
	bucketTasks     = []byte("tasks")
)

// Bolt is the bbolt-backed Store.
type Bolt struct {
	db *bolt.DB
}

var _ Store = (*Bolt)(nil)

// Open opens (creating if needed) the database at path. A second process
// holding the file makes Open fail after a short wait rather than hang.
func Open(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketClusters, bucketInstances, bucketTaskDefs, bucketTasks, bucketClientTokens, bucketClientTokenTimes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets in %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// View implements Store.
func (b *Bolt) View(fn func(Tx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update implements Store.
func (b *Bolt) Update(fn func(Tx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }

type boltTx struct{ tx *bolt.Tx }

func instanceKey(cluster, id string) []byte { return []byte(cluster + "/" + id) }

func get[T any](tx *bolt.Tx, bucket, key []byte) (T, error) {
	var v T
	raw := tx.Bucket(bucket).Get(key)
	if raw == nil {
		return v, ErrNotFound
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

func put(tx *bolt.Tx, bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put(key, raw)
}

// list decodes every value whose key starts with prefix, in key order.
func list[T any](tx *bolt.Tx, bucket, prefix []byte) ([]T, error) {
	var out []T
	c := tx.Bucket(bucket).Cursor()
	for k, raw := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, raw = c.Next() {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

func (t boltTx) Cluster(name string) (Cluster, error) {
	return get[Cluster](t.tx, bucketClusters, []byte(name))
}

func (t boltTx) PutCluster(c Cluster) error {
	return put(t.tx, bucketClusters, []byte(c.Name), c)
}

func (t boltTx) Clusters() ([]Cluster, error) {
	return list[Cluster](t.tx, bucketClusters, nil)
}

func (t boltTx) Instance(cluster, id string) (ContainerInstance, error) {
	return get[ContainerInstance](t.tx, bucketInstances, instanceKey(cluster, id))
}

func (t boltTx) PutInstance(ci ContainerInstance) error {
	return put(t.tx, bucketInstances, instanceKey(ci.Cluster, ci.ID), ci)
}

func (t boltTx) Instances(cluster string) ([]ContainerInstance, error) {
	var prefix []byte
	if cluster != "" {
		prefix = []byte(cluster + "/")
	}
	return list[ContainerInstance](t.tx, bucketInstances, prefix)
}

// taskDefKey zero-pads the revision so that key order is revision order.
func taskDefKey(family string, revision int) []byte {
	return []byte(fmt.Sprintf("%s/%010d", family, revision))
}

func (t boltTx) TaskDefinition(family string, revision int) (TaskDefinition, error) {
	return get[TaskDefinition](t.tx, bucketTaskDefs, taskDefKey(family, revision))
}

func (t boltTx) PutTaskDefinition(td TaskDefinition) error {
	return put(t.tx, bucketTaskDefs, taskDefKey(td.Family, td.Revision), td)
}

func (t boltTx) TaskDefinitions(family string) ([]TaskDefinition, error) {
	var prefix []byte
	if family != "" {
		prefix = []byte(family + "/")
	}
	return list[TaskDefinition](t.tx, bucketTaskDefs, prefix)
}

func (t boltTx) Task(cluster, id string) (Task, error) {
	return get[Task](t.tx, bucketTasks, instanceKey(cluster, id))
}

func (t boltTx) PutTask(task Task) error {
	return put(t.tx, bucketTasks, instanceKey(task.Cluster, task.ID), task)
}

func (t boltTx) Tasks(cluster string) ([]Task, error) {
	var prefix []byte
	if cluster != "" {
		prefix = []byte(cluster + "/")
	}
	return list[Task](t.tx, bucketTasks, prefix)
}
