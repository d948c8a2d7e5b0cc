package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// maxBatchDelay is how long a Batch waits for others to share its
// transaction (bbolt's default is 10 ms): a few milliseconds gather the
// state changes of an agents' burst, and a lone one is not held for long.
const maxBatchDelay = 3 * time.Millisecond

// DefaultLockTimeout bounds the wait for the file lock, so that a second
// control plane on the same data dir fails rather than hangs.
const DefaultLockTimeout = 2 * time.Second

// Options tune OpenWith. The zero value is the production setting.
type Options struct {
	// Logger receives the schema migrations; nil discards.
	Logger *slog.Logger
	// LockTimeout is how long to wait for another process's lock;
	// 0 means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Open is OpenWith with default options.
func Open(path string) (*Bolt, error) { return OpenWith(path, Options{}) }

// OpenWith opens the database at path, creating it only when no file is
// there. An existing file is checked before it is used: its page structure
// (verifyPages), then bbolt's own consistency check, then its schema
// version, and an older schema is migrated in order. An empty, truncated,
// damaged, foreign or newer file yields an error wrapping ErrCorrupt that
// names the file and what to do; such a file is left as it is.
func OpenWith(path string, o Options) (*Bolt, error) {
	return open(path, o, migrations)
}

func open(path string, o Options, steps []migration) (*Bolt, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path, o, steps); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, corruptError(path, "it is not a regular file", nil)
	case fi.Size() == 0:
		// bbolt would quietly make a new database of it.
		return nil, corruptError(path, "it is empty (0 bytes), as a disk that filled up or a copy that failed leaves it", nil)
	}
	if err := inspect(path, o, steps); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout})
	if err != nil {
		return nil, classifyOpenError(path, err)
	}
	db.MaxBatchDelay = maxBatchDelay
	b := newBolt(db, path)
	if err := migrate(b, steps, o.Logger); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// corruptError is the one message for every unusable file: which file,
// what is wrong, and the operator's two ways out.
func corruptError(path, why string, cause error) error {
	if cause != nil {
		why = fmt.Sprintf("%s: %v", why, cause)
	}
	return fmt.Errorf("%w: %s: %s. The control plane starts empty only when this file is missing, "+
		"and never replaces it on its own: restore it from a backup, or move it away "+
		"(mv %s %s.bad) to start with no clusters, container instances, task definitions or tasks "+
		"(agents registered here must then start with a new agent.db)",
		ErrCorrupt, path, why, path, path)
}

func classifyOpenError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w: another ecs-controlplane is probably using this data directory", path, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open %s: %w", path, err)
	default:
		// ErrInvalid, ErrChecksum, ErrVersionMismatch, "file size too small":
		// the content is not a usable bbolt database.
		return corruptError(path, "it is not a readable bbolt database", err)
	}
}

// inspect checks an existing file, read-only and under a shared lock, so
// that nothing is written to a file that may be damaged. Panics and memory
// faults inside bbolt become errors rather than a crash; verifyPages
// makes them unlikely in the first place. The file is closed afterwards:
// the pages the check touched leave the process's memory with the map.
func inspect(path string, o Options, steps []migration) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corruptError(path, "reading it failed", fmt.Errorf("%v", r))
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: o.LockTimeout})
	if err != nil {
		return classifyOpenError(path, err)
	}
	defer db.Close()

	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := verifyPages(f, fi.Size(), db.Info().PageSize); err != nil {
		return corruptError(path, "its page structure is damaged", err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
			return corruptError(path, "bbolt's consistency check failed", err)
		}
		if _, err := schemaVersion(tx, path, steps); err != nil {
			return err
		}
		if err := checkRecords(tx); err != nil {
			return corruptError(path, "a record is damaged", err)
		}
		return nil
	})
}

// check runs bbolt's consistency check and returns its first findings.
func check(tx *bolt.Tx) error {
	var errs []error
	n := 0
	for err := range tx.Check() {
		n++
		if len(errs) < 3 {
			errs = append(errs, err)
		}
	}
	if n > len(errs) {
		errs = append(errs, fmt.Errorf("and %d more problems", n-len(errs)))
	}
	return errors.Join(errs...)
}

// checkRecords makes sure every record is well-formed JSON. bbolt keeps no
// checksum of its data pages: a damaged value (an overflow page of a large
// record, say) would otherwise surface as a failed request much later.
func checkRecords(tx *bolt.Tx) error {
	for _, name := range recordBuckets {
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		err := b.ForEach(func(k, v []byte) error {
			if v == nil || !json.Valid(v) {
				return fmt.Errorf("%s/%s is not a JSON record", name, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// create makes a new database at path atomically: it is built and synced
// under a temporary name, then linked into place. A crash while creating
// leaves no file at path (only a stray temporary), never an empty one,
// which the next start would rightly refuse.
func create(path string, o Options, steps []migration) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: o.LockTimeout})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = migrate(newBolt(db, path), steps, slog.New(slog.DiscardHandler))
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// Link, unlike rename, never replaces a file another control plane
	// may have created meanwhile; theirs is then the one used.
	if err := os.Link(name, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
