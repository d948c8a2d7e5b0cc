package statemanager

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backends returns a fresh store per call for each implementation, so one
// suite runs against both.
func backends() map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store {
			s := NewMemory()
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"bolt": func(t *testing.T) Store {
			s, err := OpenBolt(t.TempDir(), BoltOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

type record struct {
	Arn    string
	Status string `json:"status,omitempty"`
	N      int
}

func TestStoreSuite(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Run("metadata", func(t *testing.T) { testMetadata(t, open(t)) })
			t.Run("records", func(t *testing.T) { testRecords(t, open(t)) })
			t.Run("put many", func(t *testing.T) { testPutMany(t, open(t)) })
			t.Run("apply", func(t *testing.T) { testApply(t, open(t)) })
			t.Run("foreach", func(t *testing.T) { testForEach(t, open(t)) })
			t.Run("unknown bucket", func(t *testing.T) { testUnknownBucket(t, open(t)) })
			t.Run("concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
			t.Run("closed", func(t *testing.T) { testClosed(t, open(t)) })
		})
	}
}

func testMetadata(t *testing.T, s Store) {
	md := Metadata{Store: s}
	_, err := md.Get(KeyContainerInstanceARN)
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, md.Put(KeyClusterName, "default"))
	require.NoError(t, md.PutAll(map[string]string{
		KeyContainerInstanceARN: "arn:aws:ecs:us-west-2:123:container-instance/default/abc",
		KeyEC2InstanceID:        "i-123",
		KeyAvailabilityZone:     "",
	}))
	got, err := md.Get(KeyClusterName)
	require.NoError(t, err)
	assert.Equal(t, "default", got)
	got, err = md.Get(KeyContainerInstanceARN)
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:ecs:us-west-2:123:container-instance/default/abc", got)
	got, err = md.Get(KeyAvailabilityZone)
	require.NoError(t, err, "an empty value is stored, not missing")
	assert.Empty(t, got)

	// Metadata values are JSON strings, as in the incumbent's agent.db.
	var raw string
	require.NoError(t, s.ForEach(BucketMetadata, func(k string, v []byte) error {
		if k == KeyEC2InstanceID {
			raw = string(v)
		}
		return nil
	}))
	assert.Equal(t, `"i-123"`, raw)
}

func testRecords(t *testing.T, s Store) {
	var r record
	require.ErrorIs(t, s.Get(BucketTasks, "t1", &r), ErrNotFound)

	require.NoError(t, s.Put(BucketTasks, "t1", record{Arn: "arn:t1", Status: "RUNNING", N: 1}))
	require.NoError(t, s.Get(BucketTasks, "t1", &r))
	assert.Equal(t, record{Arn: "arn:t1", Status: "RUNNING", N: 1}, r)

	require.NoError(t, s.Put(BucketTasks, "t1", record{Arn: "arn:t1", N: 2}))
	r = record{}
	require.NoError(t, s.Get(BucketTasks, "t1", &r))
	assert.Equal(t, record{Arn: "arn:t1", N: 2}, r, "put overwrites")

	// Buckets are separate namespaces.
	require.ErrorIs(t, s.Get(BucketContainers, "t1", &r), ErrNotFound)

	require.NoError(t, s.Delete(BucketTasks, "t1"))
	require.ErrorIs(t, s.Get(BucketTasks, "t1", &r), ErrNotFound)
	require.NoError(t, s.Delete(BucketTasks, "t1"), "deleting a missing key is fine")

	// A value that cannot be encoded is an error, not a silent skip.
	require.Error(t, s.Put(BucketImages, "bad", func() {}))
	// Decoding into the wrong type is an error.
	require.NoError(t, s.Put(BucketImages, "img", "a string"))
	require.Error(t, s.Get(BucketImages, "img", &r))
}

func testPutMany(t *testing.T, s Store) {
	require.NoError(t, s.PutMany(
		Record{Bucket: BucketTasks, Key: "t1", Value: record{Arn: "arn:t1"}},
		Record{Bucket: BucketContainers, Key: "t1-web", Value: record{Arn: "arn:c1"}},
	))
	var r record
	require.NoError(t, s.Get(BucketTasks, "t1", &r))
	assert.Equal(t, "arn:t1", r.Arn)
	require.NoError(t, s.Get(BucketContainers, "t1-web", &r))
	assert.Equal(t, "arn:c1", r.Arn)
	require.NoError(t, s.PutMany(), "an empty batch is fine")

	// One bad record fails the whole batch and writes nothing.
	err := s.PutMany(
		Record{Bucket: BucketTasks, Key: "t2", Value: record{Arn: "arn:t2"}},
		Record{Bucket: "nope", Key: "x", Value: 1},
	)
	require.ErrorIs(t, err, ErrUnknownBucket)
	require.ErrorIs(t, s.Get(BucketTasks, "t2", &r), ErrNotFound)
	err = s.PutMany(
		Record{Bucket: BucketTasks, Key: "t3", Value: record{Arn: "arn:t3"}},
		Record{Bucket: BucketImages, Key: "bad", Value: func() {}},
	)
	require.Error(t, err)
	require.ErrorIs(t, s.Get(BucketTasks, "t3", &r), ErrNotFound)
}

func testApply(t *testing.T, s Store) {
	require.NoError(t, s.PutMany(
		Record{Bucket: BucketTasks, Key: "t1", Value: record{Arn: "arn:t1"}},
		Record{Bucket: BucketContainers, Key: "t1-a", Value: record{Arn: "a"}},
		Record{Bucket: BucketContainers, Key: "t1-b", Value: record{Arn: "b"}},
	))
	// A task removed with its containers, and another written, at once.
	require.NoError(t, s.Apply(
		Change{Bucket: BucketContainers, Key: "t1-a", Delete: true},
		Change{Bucket: BucketContainers, Key: "t1-b", Delete: true},
		Change{Bucket: BucketContainers, Key: "t1-missing", Delete: true},
		Change{Bucket: BucketTasks, Key: "t1", Delete: true},
		Change{Bucket: BucketTasks, Key: "t2", Value: record{Arn: "arn:t2"}},
	))
	var r record
	for _, k := range []string{"t1-a", "t1-b"} {
		require.ErrorIs(t, s.Get(BucketContainers, k, &r), ErrNotFound, k)
	}
	require.ErrorIs(t, s.Get(BucketTasks, "t1", &r), ErrNotFound)
	require.NoError(t, s.Get(BucketTasks, "t2", &r))
	assert.Equal(t, "arn:t2", r.Arn)

	// In order: a put then a delete of the same key deletes it.
	require.NoError(t, s.Apply(
		Change{Bucket: BucketTasks, Key: "t3", Value: record{Arn: "arn:t3"}},
		Change{Bucket: BucketTasks, Key: "t3", Delete: true},
	))
	require.ErrorIs(t, s.Get(BucketTasks, "t3", &r), ErrNotFound)

	// One bad change fails the batch and changes nothing.
	err := s.Apply(
		Change{Bucket: BucketTasks, Key: "t2", Delete: true},
		Change{Bucket: "nope", Key: "x", Delete: true},
	)
	require.ErrorIs(t, err, ErrUnknownBucket)
	require.NoError(t, s.Get(BucketTasks, "t2", &r), "the delete before the bad change did not happen")
	err = s.Apply(
		Change{Bucket: BucketTasks, Key: "t2", Delete: true},
		Change{Bucket: BucketImages, Key: "bad", Value: func() {}},
	)
	require.Error(t, err)
	require.NoError(t, s.Get(BucketTasks, "t2", &r))
	require.NoError(t, s.Apply(), "an empty batch is fine")
}

func testForEach(t *testing.T, s Store) {
	for _, k := range []string{"c", "a", "b"} {
		require.NoError(t, s.Put(BucketContainers, k, record{Arn: k}))
	}
	var keys []string
	require.NoError(t, s.ForEach(BucketContainers, func(k string, raw []byte) error {
		keys = append(keys, k)
		// fn may write to the store while walking.
		return s.Put(BucketImages, "seen-"+k, string(raw))
	}))
	assert.Equal(t, []string{"a", "b", "c"}, keys, "key order")
	var v string
	require.NoError(t, s.Get(BucketImages, "seen-b", &v))
	assert.JSONEq(t, `{"Arn":"b","N":0}`, v)

	stop := errors.New("stop")
	n := 0
	err := s.ForEach(BucketContainers, func(string, []byte) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)

	n = 0
	require.NoError(t, s.ForEach(BucketResAttachments, func(string, []byte) error { n++; return nil }))
	assert.Zero(t, n)
}

func testUnknownBucket(t *testing.T, s Store) {
	var r record
	require.ErrorIs(t, s.Put("nope", "k", r), ErrUnknownBucket)
	require.ErrorIs(t, s.Get("nope", "k", &r), ErrUnknownBucket)
	require.ErrorIs(t, s.Delete("nope", "k"), ErrUnknownBucket)
	require.ErrorIs(t, s.ForEach("nope", func(string, []byte) error { return nil }), ErrUnknownBucket)
}

func testConcurrent(t *testing.T, s Store) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				key := fmt.Sprintf("w%d-%d", i, j)
				if err := s.Put(BucketTasks, key, record{Arn: key, N: j}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := 0
	require.NoError(t, s.ForEach(BucketTasks, func(string, []byte) error { n++; return nil }))
	assert.Equal(t, 80, n)
}

func testClosed(t *testing.T, s Store) {
	require.NoError(t, s.Close())
	var r record
	require.ErrorIs(t, s.Put(BucketTasks, "k", r), ErrClosed)
	require.ErrorIs(t, s.Get(BucketTasks, "k", &r), ErrClosed)
	require.ErrorIs(t, s.PutMany(Record{Bucket: BucketTasks, Key: "k", Value: r}), ErrClosed)
	require.ErrorIs(t, s.Apply(Change{Bucket: BucketTasks, Key: "k", Delete: true}), ErrClosed)
	require.ErrorIs(t, s.Delete(BucketTasks, "k"), ErrClosed)
	require.ErrorIs(t, s.ForEach(BucketTasks, func(string, []byte) error { return nil }), ErrClosed)
	_, err := Metadata{Store: s}.Get(KeyClusterName)
	require.ErrorIs(t, err, ErrClosed)
}
