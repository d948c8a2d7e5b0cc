package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// realFile writes a database the way the control plane does, big enough to
// have branch pages, overflow pages and a freelist, and returns its bytes.
func realFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, s.Update(func(tx Tx) error {
		for _, c := range []string{"default", "prod"} {
			if err := tx.PutCluster(Cluster{Name: c, ARN: "arn:aws:ecs:us-east-1:1:cluster/" + c, Status: StatusActive, CreatedAt: now}); err != nil {
				return err
			}
		}
		if err := tx.PutInstance(ContainerInstance{ID: "i1", Cluster: "default", ARN: "arn:ci/default/i1", Status: StatusActive}); err != nil {
			return err
		}
		big := TaskDefinition{Family: "web", Revision: 1, Status: StatusActive,
			ContainerDefinitions: []ContainerDefinition{{Name: "web", Image: strings.Repeat("x", 9000)}}}
		if err := tx.PutTaskDefinition(big); err != nil { // an overflow page
			return err
		}
		for i := range 250 {
			task := Task{ID: fmt.Sprintf("%032x", i), Cluster: "default", ARN: fmt.Sprintf("arn:task/default/%032x", i),
				ContainerInstanceARN: "arn:ci/default/i1", LastStatus: TaskRunning, DesiredStatus: TaskRunning, CreatedAt: now,
				Containers: []TaskContainer{{Name: "web", Image: "busybox", LastStatus: TaskRunning}}}
			if i%3 == 0 {
				task.LastStatus, task.DesiredStatus, task.StoppedAt = TaskStopped, TaskStopped, &now
			}
			if err := tx.PutTask(task); err != nil {
				return err
			}
		}
		return nil
	}))
	// Free some pages, so that the file has a freelist with entries.
	require.NoError(t, s.Update(func(tx Tx) error {
		for i := 0; i < 250; i += 7 {
			if err := tx.DeleteTask("default", fmt.Sprintf("%032x", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return raw
}

// inUsePages returns the pages the file's trees and freelist use.
func inUsePages(t *testing.T, raw []byte) (pages []uint64, freelist uint64) {
	t.Helper()
	w := pageWalker{r: bytes.NewReader(raw), size: int64(len(raw)), pageSize: uint64(os.Getpagesize()), seen: map[uint64]bool{}}
	m, err := w.meta()
	require.NoError(t, err)
	w.hwm = m.pgid
	require.NoError(t, w.walk(m.root))
	for p := range w.seen {
		pages = append(pages, p)
	}
	return pages, m.freelist
}

// openCopy writes raw as a data dir's controlplane.db and opens it. It
// asserts that a failed open leaves the file exactly as it was.
func openCopy(t *testing.T, raw []byte) (*Bolt, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	b, err := Open(path)
	if err != nil {
		after, rerr := os.ReadFile(path)
		require.NoError(t, rerr)
		assert.True(t, bytes.Equal(raw, after), "a refused file is left as it was")
	}
	return b, path, err
}

func requireCorrupt(t *testing.T, err error, path, why string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrCorrupt)
	msg := err.Error()
	assert.Contains(t, msg, path, "the message names the file")
	assert.Contains(t, msg, why)
	assert.Contains(t, msg, "mv "+path+" "+path+".bad", "the message says what to do")
	assert.Contains(t, msg, "restore it from a backup")
}

func TestOpenRefusesUnusableFiles(t *testing.T) {
	real := realFile(t)
	page := os.Getpagesize()
	randomPages := func(raw []byte, ids ...int) []byte {
		out := bytes.Clone(raw)
		r := rand.New(rand.NewPCG(1, 2))
		for _, id := range ids {
			for i := id * page; i < (id+1)*page; i++ {
				out[i] = byte(r.Uint32())
			}
		}
		return out
	}
	agentDB := func() []byte { // an agent.db: a valid bbolt file that is not ours
		path := filepath.Join(t.TempDir(), "agent.db")
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("open-ecs"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("schema-version"), []byte("1")); err != nil {
				return err
			}
			_, err = tx.CreateBucket([]byte("tasks"))
			return err
		}))
		require.NoError(t, db.Close())
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		return raw
	}()

	for _, tc := range []struct {
		name, why string
		raw       []byte
	}{
		{"zero bytes", "it is empty (0 bytes)", nil},
		{"100 bytes", "it is not a readable bbolt database", real[:100]},
		{"random meta pages", "it is not a readable bbolt database", randomPages(real, 0, 1)},
		{"truncated to half", "truncated", real[:len(real)/2]},
		{"text", "it is not a readable bbolt database", []byte(strings.Repeat("not a database\n", 1000))},
		{"an agent.db", "written by another program", agentDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := openCopy(t, tc.raw)
			requireCorrupt(t, err, path, tc.why)
		})
	}
}

// Every page in use, overwritten with random bytes while the meta pages
// stay intact, is found at start: an error, never a panic, a fault or a
// hang, and never a silently smaller database.
func TestOpenFindsEveryDamagedDataPage(t *testing.T) {
	real := realFile(t)
	page := os.Getpagesize()
	pages, freelist := inUsePages(t, real)
	pages = append(pages, freelist)
	require.Greater(t, len(pages), 20)
	r := rand.New(rand.NewPCG(3, 4))
	for _, id := range pages {
		raw := bytes.Clone(real)
		for i := int(id) * page; i < int(id+1)*page; i++ {
			raw[i] = byte(r.Uint32())
		}
		_, path, err := openCopy(t, raw)
		require.Error(t, err, "page %d", id)
		requireCorrupt(t, err, path, "")
	}
}

// A page that refers back to itself would send bbolt's own walk (and its
// consistency check) into an endless descent; the page walk refuses it.
func TestOpenRefusesAPageCycle(t *testing.T) {
	real := realFile(t)
	page := os.Getpagesize()
	pages, _ := inUsePages(t, real)
	var branch uint64
	for _, id := range pages {
		if binary.NativeEndian.Uint16(real[int(id)*page+8:]) == flagBranch {
			branch = id
			break
		}
	}
	require.NotZero(t, branch, "the real file has a branch page")
	raw := bytes.Clone(real)
	// The first element's child page ID (after pos and ksize) points at
	// the branch page itself.
	binary.NativeEndian.PutUint64(raw[int(branch)*page+pageHeaderSize+8:], branch)
	_, path, err := openCopy(t, raw)
	requireCorrupt(t, err, path, fmt.Sprintf("page %d is referenced twice", branch))
}

func TestOpenRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	require.NoError(t, os.Mkdir(path, 0o700))
	_, err := Open(path)
	requireCorrupt(t, err, path, "not a regular file")
}

// Only a missing file makes a new database; it appears whole or not at all.
func TestOpenCreatesOnlyAMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	b, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// The new file is at the current schema version with every bucket.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v, err := schemaVersion(tx, path, migrations)
		require.NoError(t, err)
		assert.Equal(t, SchemaVersion, v)
		for _, name := range recordBuckets {
			assert.NotNil(t, tx.Bucket(name), "bucket %s", name)
		}
		for _, idx := range taskIndexes {
			assert.NotNil(t, tx.Bucket(idx.bucket), "index %s", idx.bucket)
		}
		return nil
	}))
}

func TestOpenInUseFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	b, err := Open(path)
	require.NoError(t, err)
	defer b.Close()
	_, err = OpenWith(path, Options{LockTimeout: 50 * time.Millisecond})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrCorrupt), "a file in use is not corrupt: %v", err)
	assert.Contains(t, err.Error(), "another ecs-controlplane")
}
