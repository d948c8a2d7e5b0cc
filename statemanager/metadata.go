package statemanager

// Metadata keys, as the incumbent names them (reference §8.1).
const (
	KeyAgentVersion         = "agent-version"
	KeyAvailabilityZone     = "availability-zone"
	KeyClusterName          = "cluster-name"
	KeyContainerInstanceARN = "container-instance-arn"
	KeyEC2InstanceID        = "ec2-instance-id"
	KeyTaskManifestSeqNum   = "task-manifest-seq-num"
	// KeyRegistrationClientToken is ours: the clientToken of the first
	// RegisterContainerInstance, saved before it is sent.
	KeyRegistrationClientToken = "registration-client-token"
)

// Metadata reads and writes the metadata bucket of any Store. Values are
// JSON strings, as in the incumbent's agent.db, so it needs nothing from a
// backend beyond the Store primitives.
type Metadata struct {
	Store Store
}

// Get returns the value for key, or an error wrapping ErrNotFound.
func (m Metadata) Get(key string) (string, error) {
	var v string
	if err := m.Store.Get(BucketMetadata, key, &v); err != nil {
		return "", err
	}
	return v, nil
}

// Put stores one value.
func (m Metadata) Put(key, value string) error {
	return m.Store.Put(BucketMetadata, key, value)
}

// PutAll stores several values in one transaction.
func (m Metadata) PutAll(kv map[string]string) error {
	recs := make([]Record, 0, len(kv))
	for k, v := range kv {
		recs = append(recs, Record{Bucket: BucketMetadata, Key: k, Value: v})
	}
	return m.Store.PutMany(recs...)
}
