package statemanager

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestSchemaVersionCountsMigrations(t *testing.T) {
	assert.Equal(t, SchemaVersion, schemaVersion(migrations), "bump SchemaVersion with each migration")
}

func fileVersion(t *testing.T, s *Bolt) int {
	t.Helper()
	var v int
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = strconv.Atoi(string(tx.Bucket([]byte(bucketSchema)).Get([]byte(keySchema))))
		return err
	}))
	return v
}

// testMigrations are two migrations of the images bucket's raw JSON; the
// second relies on the first, so running them out of order fails.
func testMigrations(ran *[]string) []migration {
	return []migration{
		{name: "wrap image values", apply: func(tx *bolt.Tx) error {
			*ran = append(*ran, "wrap")
			b := tx.Bucket([]byte(BucketImages))
			return b.ForEach(func(k, v []byte) error {
				return b.Put(k, append(append([]byte(`{"v1":`), v...), '}'))
			})
		}},
		{name: "rename v1 to v2", apply: func(tx *bolt.Tx) error {
			*ran = append(*ran, "rename")
			b := tx.Bucket([]byte(BucketImages))
			return b.ForEach(func(k, v []byte) error {
				if !bytes.HasPrefix(v, []byte(`{"v1":`)) {
					return errors.New("not wrapped")
				}
				return b.Put(k, append([]byte(`{"v2":`), v[len(`{"v1":`):]...))
			})
		}},
	}
}

func TestBoltMigratesOlderSchemaInOrder(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{migrations: []migration{}})
	require.NoError(t, err)
	require.Equal(t, 1, fileVersion(t, s))
	require.NoError(t, s.Put(BucketImages, "sha256:1", "busybox"))
	require.NoError(t, s.Close())

	var ran []string
	list := testMigrations(&ran)
	s, err = OpenBolt(dir, BoltOptions{migrations: list})
	require.NoError(t, err)
	assert.Equal(t, []string{"wrap", "rename"}, ran)
	assert.Equal(t, 3, fileVersion(t, s))
	var got map[string]string
	require.NoError(t, s.Get(BucketImages, "sha256:1", &got))
	assert.Equal(t, map[string]string{"v2": "busybox"}, got)
	require.NoError(t, s.Close())

	ran = nil
	s, err = OpenBolt(dir, BoltOptions{migrations: list})
	require.NoError(t, err)
	defer s.Close()
	assert.Empty(t, ran, "a migrated file is not migrated again")
}

func TestBoltNewFileNeedsNoMigration(t *testing.T) {
	var ran []string
	s, err := OpenBolt(t.TempDir(), BoltOptions{migrations: testMigrations(&ran)})
	require.NoError(t, err)
	defer s.Close()
	assert.Empty(t, ran)
	assert.Equal(t, 3, fileVersion(t, s), "a new file starts at the newest version")
}

func TestBoltFailedMigrationChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{migrations: []migration{}})
	require.NoError(t, err)
	require.NoError(t, s.Put(BucketImages, "sha256:1", "busybox"))
	require.NoError(t, s.Close())
	path := filepath.Join(dir, DBFileName)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	var ran []string
	list := testMigrations(&ran)
	list[1].apply = func(*bolt.Tx) error { return errors.New("cannot understand this record") }
	_, err = OpenBolt(dir, BoltOptions{migrations: list})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "migrate schema version 2 to 3 (rename v1 to v2): cannot understand this record")
	assert.Contains(t, err.Error(), path)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "the file is left as it was")

	s, err = OpenBolt(dir, BoltOptions{migrations: []migration{}})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 1, fileVersion(t, s), "the first migration was rolled back with the second")
	var got string
	require.NoError(t, s.Get(BucketImages, "sha256:1", &got))
	assert.Equal(t, "busybox", got)
}

// A bbolt file with no bucket at all (an agent older than atomic creation
// could leave one after a crash) holds nothing to forget: it becomes a
// new agent.db.
func TestBoltEmptyBoltFileBecomesNew(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFileName), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, SchemaVersion, fileVersion(t, s))
	require.NoError(t, s.Put(BucketTasks, "t1", record{Arn: "arn:t1"}))
}
