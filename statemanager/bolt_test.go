package statemanager

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestBoltPersistsAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	require.NoError(t, Metadata{Store: s}.Put(KeyContainerInstanceARN, "arn:ci"))
	require.NoError(t, s.Put(BucketTasks, "t1", record{Arn: "arn:t1"}))
	require.NoError(t, s.Close())

	s, err = OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	got, err := Metadata{Store: s}.Get(KeyContainerInstanceARN)
	require.NoError(t, err)
	assert.Equal(t, "arn:ci", got)
	var r record
	require.NoError(t, s.Get(BucketTasks, "t1", &r))
	assert.Equal(t, "arn:t1", r.Arn)
}

func TestBoltCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, filepath.Join(dir, DBFileName), s.Path())

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(s.Path())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestBoltSecondOpenIsInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()

	_, err = OpenBolt(dir, BoltOptions{Timeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrInUse)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), "ECS_DATADIR")
}

func TestBoltGarbageFileIsCorrupt(t *testing.T) {
	for name, content := range map[string][]byte{
		"short": []byte("not a database"),
		"json":  []byte(`{"Version":31,"Data":{}}` + string(make([]byte, 20000))),
		"zeros": make([]byte, 64*1024),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DBFileName)
			require.NoError(t, os.WriteFile(path, content, 0o600))

			_, err := OpenBolt(dir, BoltOptions{})
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "move the file away")

			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, content, after, "the file is left untouched")
		})
	}
}

func TestBoltForeignFileIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	// A bbolt file as another program (e.g. the incumbent agent) writes it:
	// valid, but without our schema bucket.
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("metadata"))
		if err != nil {
			return err
		}
		return b.Put([]byte("agent-version"), []byte(`"1.105.1"`))
	}))
	require.NoError(t, db.Close())

	_, err = OpenBolt(dir, BoltOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "another program")
}

func TestBoltNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSchema)).Put([]byte(keySchema), []byte("99"))
	}))
	require.NoError(t, s.Close())

	_, err = OpenBolt(dir, BoltOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "schema version 99")
}

func TestBoltEmptyDataDir(t *testing.T) {
	_, err := OpenBolt("", BoltOptions{})
	require.Error(t, err)
}
