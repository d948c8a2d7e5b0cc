package boltfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

const pageSize = 4096

// Byte offsets inside bbolt's pages (go.etcd.io/bbolt/internal/common):
// a 16-byte page header {id u64, flags u16, count u16, overflow u32}; a meta
// page then holds magic, version, pageSize, flags (u32 each), root
// {pgid, sequence}, freelist, pgid, txid and checksum (u64 each); a branch
// page holds 16-byte elements {pos u32, ksize u32, pgid u64}.
const (
	offMetaTxid     = 16 + 16 + 16 + 8 + 8
	offMetaChecksum = offMetaTxid + 8
	offBranchPgid0  = 16 + 8
)

// realFile writes a bbolt database with nested buckets, several levels of
// pages and some freed pages, as a long-running service leaves it, and
// returns its path and bytes.
func realFile(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	db, err := bolt.Open(path, FileMode, nil)
	require.NoError(t, err)
	value := bytes.Repeat([]byte("v"), 100)
	for round := range 3 {
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			for _, name := range []string{"tasks", "containers", "images"} {
				b, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				for i := range 200 {
					if err := b.Put(fmt.Appendf(nil, "key-%04d", i), append(value, byte(round))); err != nil {
						return err
					}
				}
				nested, err := b.CreateBucketIfNotExists([]byte("nested"))
				if err != nil {
					return err
				}
				if err := nested.Put([]byte("round"), []byte{byte(round)}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("images")).Put([]byte("last"), []byte("commit"))
	}))
	require.NoError(t, db.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, raw
}

// pagesOf lists the file's pages by bbolt type ("meta", "freelist",
// "branch", "leaf", "free").
func pagesOf(t *testing.T, path string) map[string][]int {
	t.Helper()
	db, err := bolt.Open(path, FileMode, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	require.NoError(t, err)
	defer db.Close()
	out := map[string][]int{}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p == nil {
				return nil
			}
			out[p.Type] = append(out[p.Type], id)
		}
	}))
	return out
}

// copyWith writes a copy of raw, changed by mutate, as dir/test.db.
func copyWith(t *testing.T, raw []byte, mutate func(b []byte) []byte) (string, []byte) {
	t.Helper()
	b := mutate(bytes.Clone(raw))
	path := filepath.Join(t.TempDir(), "test.db")
	require.NoError(t, os.WriteFile(path, b, FileMode))
	return path, b
}

func scribble(page int) func([]byte) []byte {
	return func(b []byte) []byte {
		r := rand.New(rand.NewPCG(uint64(page), 42))
		for i := page * pageSize; i < (page+1)*pageSize; i++ {
			b[i] = byte(r.Uint32())
		}
		return b
	}
}

// requireCorrupt opens path, expects a CorruptError naming it, and checks
// the file was not changed.
func requireCorrupt(t *testing.T, path string, before []byte, reason string) {
	t.Helper()
	db, err := Open(path, Options{Timeout: time.Second})
	if db != nil {
		_ = db.Close()
	}
	require.ErrorIs(t, err, ErrCorrupt)
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.Path)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, ce.Reason, reason)
	after, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.True(t, bytes.Equal(before, after), "a damaged file is left untouched")
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	src, raw := realFile(t)
	require.Greater(t, len(raw), 16*pageSize, "the sample spans many pages")
	require.NotEmpty(t, pagesOf(t, src)["branch"], "the sample has a branch page to aim a pointer from")
	cases := map[string]struct {
		mutate func([]byte) []byte
		reason string
	}{
		"zero bytes":         {func([]byte) []byte { return nil }, "empty (0 bytes)"},
		"100 bytes":          {func(b []byte) []byte { return b[:100] }, "cannot be read as a bbolt database"},
		"truncated to half":  {func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
		"both meta pages":    {func(b []byte) []byte { return scribble(1)(scribble(0)(b)) }, "cannot be read as a bbolt database"},
		"first meta page":    {scribble(0), "consistency check failed"},
		"second meta page":   {scribble(1), "consistency check failed"},
		"child pointer past": {branchChild(0), ""}, // 0: just past the end of the file
		// Without the walk under SetPanicOnFault, following this pointer
		// inside Tx.Check's goroutine kills the process ("unexpected fault
		// address").
		"child pointer unmapped": {branchChild(1 << 20), ""},
		"child pointer far":      {branchChild(1 << 40), ""},
		"text instead of it":     {func([]byte) []byte { return []byte(`{"Version":31,"Data":{}}`) }, "cannot be read as a bbolt database"},
		"zeros instead of it":    {func(b []byte) []byte { return make([]byte, len(b)) }, "cannot be read as a bbolt database"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path, written := copyWith(t, raw, tc.mutate)
			requireCorrupt(t, path, written, tc.reason)
		})
	}
}

// branchChild points the first element of the first branch page at page
// id (0: the first page past the end of the file), keeping the page header
// intact so that only following the pointer finds the damage.
func branchChild(id uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		for p := 2; p < len(b)/pageSize; p++ {
			off := p * pageSize
			flags := binary.LittleEndian.Uint16(b[off+8:])
			if flags&0x01 == 0 || binary.LittleEndian.Uint64(b[off:]) != uint64(p) {
				continue // not a branch page in use
			}
			if id == 0 {
				id = uint64(len(b)/pageSize) + 1
			}
			binary.LittleEndian.PutUint64(b[off+offBranchPgid0:], id)
			return b
		}
		panic("no branch page")
	}
}

// Every page in use, scribbled over while the meta pages stay intact, makes
// the file refused; bbolt itself panics on some (a damaged freelist page
// panics inside bolt.Open).
func TestOpenRefusesEveryDamagedPage(t *testing.T) {
	src, raw := realFile(t)
	pages := pagesOf(t, src)
	require.NotEmpty(t, pages["freelist"])
	require.NotEmpty(t, pages["leaf"])
	var inUse []int
	for _, typ := range []string{"freelist", "branch", "leaf"} {
		inUse = append(inUse, pages[typ]...)
	}
	for _, id := range inUse {
		t.Run(fmt.Sprintf("page %d", id), func(t *testing.T) {
			path, written := copyWith(t, raw, scribble(id))
			requireCorrupt(t, path, written, "")
		})
	}
}

// A free page holds nothing: damage there is harmless and not refused.
func TestOpenAcceptsDamagedFreePage(t *testing.T) {
	src, raw := realFile(t)
	free := pagesOf(t, src)["free"]
	if len(free) == 0 {
		t.Skip("the sample has no free page")
	}
	path, _ := copyWith(t, raw, scribble(free[0]))
	db, err := Open(path, Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// A torn meta page is what a crash during a commit leaves: bbolt falls
// back to the other meta page, the last commit that completed.
func TestOpenRecoversTornMetaPage(t *testing.T) {
	_, raw := realFile(t)
	newest := 0
	if binary.LittleEndian.Uint64(raw[pageSize+offMetaTxid:]) > binary.LittleEndian.Uint64(raw[offMetaTxid:]) {
		newest = 1
	}
	path, _ := copyWith(t, raw, func(b []byte) []byte {
		b[newest*pageSize+offMetaChecksum] ^= 0xff
		return b
	})
	db, err := Open(path, Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket([]byte("images")).Get([]byte("last")), "the torn commit is rolled back")
		assert.NotNil(t, tx.Bucket([]byte("tasks")).Get([]byte("key-0199")), "earlier commits are kept")
		return nil
	}))
}

func TestOpenCreatesMissingFileAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	db, err := Open(path, Options{Timeout: time.Second, Init: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("schema"))
		return err
	}})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		assert.NotNil(t, tx.Bucket([]byte("schema")), "Init ran before the file got its name")
		return nil
	}))
	require.NoError(t, db.Close())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(FileMode), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")

	// Opening again keeps what is there.
	db, err = Open(path, Options{Timeout: time.Second, Init: func(*bolt.Tx) error {
		t.Error("Init runs only for a new file")
		return nil
	}})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestOpenInitFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	boom := errors.New("boom")
	_, err := Open(path, Options{Timeout: time.Second, Init: func(*bolt.Tx) error { return boom }})
	require.ErrorIs(t, err, boom)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "neither the file nor a temporary one")
}

func TestOpenLockedFile(t *testing.T) {
	path, _ := realFile(t)
	db, err := Open(path, Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	_, err = Open(path, Options{Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), path)
	assert.NotErrorIs(t, err, ErrCorrupt)
}

func TestOpenDirectoryIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.Mkdir(path, 0o700))
	_, err := Open(path, Options{Timeout: time.Second})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "not a regular file")
}

func TestOpenValidFileKeepsData(t *testing.T) {
	path, _ := realFile(t)
	db, err := Open(path, Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		assert.Equal(t, []byte("commit"), tx.Bucket([]byte("images")).Get([]byte("last")))
		return tx.Bucket([]byte("images")).Put([]byte("more"), []byte("x"))
	}), "the file is open for writing")
}
