package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/open-ecs/ecs-agent/internal/testutil"
)

// v0Records is testdata/v0/records.json: every record of
// testdata/v0/controlplane.db as the code that wrote it (commit fab846d)
// read it back. testdata/genv0 regenerates both.
type v0Records struct {
	Clusters        []Cluster           `json:"clusters"`
	Instances       []ContainerInstance `json:"instances"`
	TaskDefinitions []TaskDefinition    `json:"taskDefinitions"`
	Tasks           []Task              `json:"tasks"`
}

func copyV0(t *testing.T) (path string, want v0Records) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "v0", FileName))
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), FileName)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	js, err := os.ReadFile(filepath.Join("testdata", "v0", "records.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &want))
	return path, want
}

func fileVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var v string
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSchema); b != nil {
			v = string(b.Get(keySchema))
		}
		return nil
	}))
	return v
}

// A file written before schema versions opens under today's schema: it is
// migrated once, every record reads back as its writer read it, and the
// indexes the migration built answer as a scan of the records would.
func TestVersion0FileMigratesAndReadsBack(t *testing.T) {
	path, want := copyV0(t)
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := OpenWith(path, Options{Logger: logger})
	require.NoError(t, err)

	// Each step runs once, in order, up to today's version.
	assert.Equal(t, SchemaVersion, bytes.Count([]byte(logs.String()), []byte("migrated the control plane database")))
	assert.Contains(t, logs.String(), fmt.Sprintf("version=%d", SchemaVersion))

	// The fixture covers every state the indexes care about.
	var live, undelivered, stopped, acked int
	for _, task := range want.Tasks {
		if task.Holds() {
			live++
		}
		if task.NeedsDelivery() {
			undelivered++
		}
		if task.LastStatus == TaskStopped {
			stopped++
		}
		if task.Delivery.AckedDesiredStatus != "" {
			acked++
		}
	}
	require.Equal(t, []int{5, 3, 2, 2, 4}, []int{len(want.Tasks), live, undelivered, stopped, acked})

	require.NoError(t, s.View(func(tx Tx) error {
		clusters, err := tx.Clusters()
		require.NoError(t, err)
		assert.Equal(t, want.Clusters, clusters)
		instances, err := tx.Instances("")
		require.NoError(t, err)
		assert.Equal(t, want.Instances, instances)
		defs, err := tx.TaskDefinitions("")
		require.NoError(t, err)
		assert.Equal(t, want.TaskDefinitions, defs)
		tasks, err := tx.Tasks("")
		require.NoError(t, err)
		assert.Equal(t, want.Tasks, tasks, "tasks, delivery state included, read back unchanged")

		var wantLive, wantUndelivered []string
		wantDesired := map[string][]string{}
		for _, task := range want.Tasks {
			if task.Holds() {
				wantLive = append(wantLive, task.ARN)
			}
			if task.NeedsDelivery() {
				wantUndelivered = append(wantUndelivered, task.ARN)
			}
			wantDesired[task.DesiredStatus] = append(wantDesired[task.DesiredStatus], task.ID)
		}
		gotLive, err := tx.LiveTasks("default", "")
		require.NoError(t, err)
		assert.ElementsMatch(t, wantLive, arns(gotLive))
		gotUndelivered, err := tx.UndeliveredTasks("")
		require.NoError(t, err)
		assert.ElementsMatch(t, wantUndelivered, arns(gotUndelivered))
		for desired, ids := range wantDesired {
			got, err := tx.TaskIDsByDesired("default", desired)
			require.NoError(t, err)
			assert.ElementsMatch(t, ids, got, desired)
		}
		old, err := tx.StoppedBefore(time.Now().Add(time.Hour), 100)
		require.NoError(t, err)
		assert.Len(t, old, stopped)
		return nil
	}))
	require.NoError(t, s.Close())
	assert.Equal(t, strconv.Itoa(SchemaVersion), fileVersion(t, path))

	// Opened again: nothing left to migrate.
	var again testutil.SyncBuffer
	s, err = OpenWith(path, Options{Logger: slog.New(slog.NewTextHandler(&again, nil))})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.NotContains(t, again.String(), "migrated")
}

func arns(tasks []Task) []string {
	out := []string{}
	for _, t := range tasks {
		out = append(out, t.ARN)
	}
	return out
}

// stepLog builds migrations that record, in the file itself, that they ran.
func stepLog(names ...string) []migration {
	var steps []migration
	for _, name := range names {
		steps = append(steps, migration{name: name, apply: func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("ran"))
			if err != nil {
				return err
			}
			seq, _ := b.NextSequence()
			return b.Put([]byte(strconv.FormatUint(seq, 10)), []byte(name))
		}})
	}
	return steps
}

func ranSteps(t *testing.T, path string) []string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var out []string
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("ran")); b != nil {
			for i := uint64(1); i <= b.Sequence(); i++ {
				out = append(out, string(b.Get([]byte(strconv.FormatUint(i, 10)))))
			}
		}
		return nil
	}))
	return out
}

func TestMigrationsRunInOrderOnce(t *testing.T) {
	path, _ := copyV0(t)
	s, err := open(path, Options{}, stepLog("a", "b", "c"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"a", "b", "c"}, ranSteps(t, path))
	assert.Equal(t, "3", fileVersion(t, path))

	s, err = open(path, Options{}, stepLog("a", "b", "c"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"a", "b", "c"}, ranSteps(t, path), "a migrated file is not migrated again")

	s, err = open(path, Options{}, stepLog("a", "b", "c", "d"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"a", "b", "c", "d"}, ranSteps(t, path), "only the new step runs")
}

// A failing step leaves the file at the last version reached, with nothing
// of the failed step in it; the next start resumes there.
func TestFailedMigrationStopsAtTheLastVersion(t *testing.T) {
	path, _ := copyV0(t)
	boom := errors.New("boom")
	steps := stepLog("a", "b")
	steps[1].apply = func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	}
	_, err := open(path, Options{}, steps)
	require.ErrorIs(t, err, boom)
	assert.False(t, errors.Is(err, ErrCorrupt), "an I/O-like failure may be retried")
	assert.Contains(t, err.Error(), "stays at version 1")
	assert.Equal(t, "1", fileVersion(t, path))
	assert.Equal(t, []string{"a"}, ranSteps(t, path))

	s, err := open(path, Options{}, stepLog("a", "b"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"a", "b"}, ranSteps(t, path))
}

// A task record that cannot be decoded stops the index migration with the
// file named: no restart would get further.
func TestMigrationOfAnUnreadableTaskIsRefused(t *testing.T) {
	path, _ := copyV0(t)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).Put([]byte("default/bad"), []byte(`{"lastStatus": 7}`))
	}))
	require.NoError(t, db.Close())
	_, err = Open(path)
	requireCorrupt(t, err, path, "migrating it to schema version 1")
	assert.Contains(t, err.Error(), "default/bad")
	assert.Equal(t, "", fileVersion(t, path))
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := open(path, Options{}, stepLog("a", "b", "c"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = open(path, Options{}, stepLog("a", "b"))
	requireCorrupt(t, err, path, "schema version 3 is newer than this ecs-controlplane's 2")
}

// The real list: one step per version, each named.
func TestMigrationsAreNamed(t *testing.T) {
	require.Equal(t, SchemaVersion, len(migrations))
	for i, m := range migrations {
		assert.NotEmpty(t, m.name, "migration %d", i+1)
		assert.NotNil(t, m.apply, "migration %d", i+1)
	}
}
