package statemanager

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testPageSize = 4096 // bbolt's page size on the hosts the tests run on

// realAgentDB writes an agent.db through OpenBolt as a running agent does:
// metadata, tasks and containers written, overwritten and deleted, so the
// file has several levels of pages and some free ones. It returns the
// file's bytes and every record in it.
func realAgentDB(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	require.NoError(t, Metadata{Store: s}.PutAll(map[string]string{
		KeyClusterName: "default", KeyContainerInstanceARN: "arn:ci", KeyEC2InstanceID: "i-1",
	}))
	env := string(bytes.Repeat([]byte("e"), 200))
	for round := range 3 {
		var recs []Record
		for i := range 150 {
			id := fmt.Sprintf("task-%03d", i)
			recs = append(recs,
				Record{Bucket: BucketTasks, Key: id, Value: record{Arn: "arn:" + id, Status: env, N: round}},
				Record{Bucket: BucketContainers, Key: id + "-main", Value: record{Arn: id + "/main", N: round}})
			if len(recs) == 20 {
				require.NoError(t, s.PutMany(recs...))
				recs = nil
			}
		}
		require.NoError(t, s.PutMany(recs...))
	}
	var dels []Change
	for i := range 50 {
		id := fmt.Sprintf("task-%03d", i)
		dels = append(dels,
			Change{Bucket: BucketTasks, Key: id, Delete: true},
			Change{Bucket: BucketContainers, Key: id + "-main", Delete: true})
	}
	require.NoError(t, s.Apply(dels...))
	all := contents(t, s)
	require.NoError(t, s.Close())
	raw, err := os.ReadFile(filepath.Join(dir, DBFileName))
	require.NoError(t, err)
	return raw, all
}

// contents is every record of every bucket, as "bucket/key" → JSON.
func contents(t *testing.T, s Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range Buckets {
		require.NoError(t, s.ForEach(b, func(k string, raw []byte) error {
			out[b+"/"+k] = string(raw)
			return nil
		}))
	}
	return out
}

// damaged writes a copy of raw, changed by mutate, as a data dir's agent.db.
func damaged(t *testing.T, raw []byte, mutate func([]byte) []byte) (dir string, written []byte) {
	t.Helper()
	dir = t.TempDir()
	written = mutate(bytes.Clone(raw))
	require.NoError(t, os.WriteFile(filepath.Join(dir, DBFileName), written, 0o600))
	return dir, written
}

func scribblePage(page int) func([]byte) []byte {
	return func(b []byte) []byte {
		r := rand.New(rand.NewPCG(uint64(page), 7))
		for i := page * testPageSize; i < (page+1)*testPageSize; i++ {
			b[i] = byte(r.Uint32())
		}
		return b
	}
}

// requireRefused checks that OpenBolt refuses the data dir's agent.db with
// ErrCorrupt, names the file and the fix, and leaves it as it was.
func requireRefused(t *testing.T, dir string, written []byte) {
	t.Helper()
	s, err := OpenBolt(dir, BoltOptions{})
	if s != nil {
		_ = s.Close()
	}
	path := filepath.Join(dir, DBFileName)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "move the file away (mv "+path+" "+path+".bad)")
	assert.Contains(t, err.Error(), "registers as a new container instance")
	after, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.True(t, bytes.Equal(written, after), "the file is left untouched")
	entries, rerr := os.ReadDir(dir)
	require.NoError(t, rerr)
	assert.Len(t, entries, 1, "nothing is created next to it")
}

// The cases, on copies of a real agent.db. Before boltfile, a
// zero-byte file was initialised as a new database (a new container
// instance, every task forgotten) and a damaged freelist page or a
// truncated file made bbolt panic.
func TestBoltDamagedFileIsRefused(t *testing.T) {
	raw, _ := realAgentDB(t)
	require.Greater(t, len(raw), 16*testPageSize)
	for name, mutate := range map[string]func([]byte) []byte{
		"zero bytes":        func([]byte) []byte { return []byte{} },
		"100 bytes":         func(b []byte) []byte { return b[:100] },
		"random meta pages": func(b []byte) []byte { return scribblePage(1)(scribblePage(0)(b)) },
		"truncated to half": func(b []byte) []byte { return b[:len(b)/2] },
	} {
		t.Run(name, func(t *testing.T) {
			dir, written := damaged(t, raw, mutate)
			requireRefused(t, dir, written)
		})
	}
}

// Every data page scribbled over, meta pages intact: the file is refused,
// or, for a free page, opens with every record as it was. Nothing is ever
// silently lost.
func TestBoltDamagedDataPageIsRefusedOrHarmless(t *testing.T) {
	raw, want := realAgentDB(t)
	refused := 0
	for page := 2; page < len(raw)/testPageSize; page++ {
		dir, written := damaged(t, raw, scribblePage(page))
		s, err := OpenBolt(dir, BoltOptions{})
		if err != nil {
			requireRefused(t, dir, written)
			refused++
			continue
		}
		assert.Equal(t, want, contents(t, s), "page %d was accepted, so it must have held nothing", page)
		require.NoError(t, s.Close())
	}
	t.Logf("%d of %d data pages refused; the others were free", refused, len(raw)/testPageSize-2)
	assert.Positive(t, refused)
}

// Only a missing file means a new agent.db.
func TestBoltMissingFileIsNew(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir, BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	assert.Empty(t, contents(t, s))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "agent.db alone, no temporary file")
}
