package store

import (
	"encoding/json"
	"fmt"

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

// recordBuckets hold records, each a JSON value (Open checks every one at
// start). Open creates any that is missing, in every schema version: a
// missing record bucket holds no records, which is the truth. Derived buckets (the task indexes) are different: only a
// migration may create them, because an empty index over existing records
// would lie.
var recordBuckets = [][]byte{bucketClusters, bucketInstances, bucketTaskDefs, bucketTasks, bucketClientTokens, bucketTaskDefFamilies, bucketServices}

// Bolt is the bbolt-backed Store.
type Bolt struct {
	db     *bolt.DB
	path   string
	caches *decodeCaches
}

func newBolt(db *bolt.DB, path string) *Bolt {
	return &Bolt{db: db, path: path, caches: newDecodeCaches()}
}

var _ Store = (*Bolt)(nil)

// Path returns the database file's path.
func (b *Bolt) Path() string { return b.path }

// View implements Store.
func (b *Bolt) View(fn func(Tx) error) error {
	return b.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx, b.caches}) })
}

// Update implements Store.
func (b *Bolt) Update(fn func(Tx) error) error {
	return b.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx, b.caches}) })
}

// Batch implements Store with bbolt's Batch.
func (b *Bolt) Batch(fn func(Tx) error) error {
	return b.db.Batch(func(tx *bolt.Tx) error { return fn(boltTx{tx, b.caches}) })
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }

type boltTx struct {
	tx     *bolt.Tx
	caches *decodeCaches
}

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
	return getCached(t, t.caches.instances, bucketInstances, instanceKey(cluster, id))
}

func (t boltTx) PutInstance(ci ContainerInstance) error {
	return put(t.tx, bucketInstances, instanceKey(ci.Cluster, ci.ID), ci)
}

func (t boltTx) Instances(cluster string) ([]ContainerInstance, error) {
	return t.instances(cluster, false)
}

func (t boltTx) InstancesShared(cluster string) ([]ContainerInstance, error) {
	return t.instances(cluster, true)
}

func (t boltTx) instances(cluster string, shared bool) ([]ContainerInstance, error) {
	var prefix []byte
	if cluster != "" {
		prefix = []byte(cluster + "/")
	}
	return listCached(t, t.caches.instances, bucketInstances, prefix, shared)
}

// taskDefKey zero-pads the revision so that key order is revision order.
func taskDefKey(family string, revision int) []byte {
	return []byte(fmt.Sprintf("%s/%010d", family, revision))
}

func (t boltTx) TaskDefinition(family string, revision int) (TaskDefinition, error) {
	return get[TaskDefinition](t.tx, bucketTaskDefs, taskDefKey(family, revision))
}

func (t boltTx) TaskDefinitions(family string) ([]TaskDefinition, error) {
	var prefix []byte
	if family != "" {
		prefix = []byte(family + "/")
	}
	return list[TaskDefinition](t.tx, bucketTaskDefs, prefix)
}
