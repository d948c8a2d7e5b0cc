// Package boltfile opens bbolt database files so that a damaged file is
// reported, never silently replaced by an empty one and never a panic.
//
// bbolt trusts its file: a zero-byte file is initialised as a new, empty
// database; a damaged page makes it panic (for example "invalid freelist
// page") or read memory outside the file. A service that restarts under
// systemd then either forgets everything it stored or crash-loops with a bare
// stack trace. Open closes both doors:
//
//   - Only a missing file is created, and atomically: it is initialised
//     (including the caller's Init) under a temporary name, synced, and
//     linked into place, so a crash never leaves a half-made file behind.
//   - An existing file is first opened read-only and verified: its size must
//     cover every page its meta page claims, every bucket, key and value
//     must be readable, and bbolt's own consistency check (Tx.Check) must
//     pass. Panics and memory faults on damaged pages are recovered.
//     Anything wrong is a *CorruptError (errors.Is ErrCorrupt) and the file
//     is left untouched.
//   - Only then is it opened for writing.
//
// A torn meta page, the one bbolt writes last in a commit, is not damage:
// bbolt falls back to the other meta page, i.e. to the last commit that
// completed, which is how bbolt recovers from a crash.
package boltfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileMode is the mode of a created file: state files may hold secrets.
const FileMode = 0o600

var (
	// ErrCorrupt matches every *CorruptError.
	ErrCorrupt = errors.New("damaged database file")
	// ErrLocked means another process holds the file's lock for longer than
	// Options.Timeout.
	ErrLocked = errors.New("database file is locked by another process")
)

// CorruptError says why a file cannot be used as a bbolt database.
type CorruptError struct {
	Path   string
	Reason string // what is wrong, for a person: "it is empty (0 bytes)"
	Err    error  // the underlying error or recovered panic, if any
}

func (e *CorruptError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s (%v)", e.Path, e.Reason, e.Err)
	}
	return e.Path + ": " + e.Reason
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

// Options tune Open.
type Options struct {
	// Timeout bounds each wait for the file lock; 0 waits forever (bbolt's
	// default), which a service should not do.
	Timeout time.Duration
	// Init, if set, runs in the first transaction of a file Open creates,
	// before the file gets its real name, so a new file is either complete
	// or absent. It typically creates buckets and a schema version.
	Init func(tx *bolt.Tx) error
}

// Open opens the bbolt file at path for reading and writing, creating it
// (mode FileMode) only if it does not exist. See the package comment for
// what is verified. The caller closes the returned DB.
func Open(path string, opts Options) (*bolt.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path, opts); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, &CorruptError{Path: path, Reason: "it is not a regular file (" + fi.Mode().Type().String() + ")"}
	case fi.Size() == 0:
		return nil, &CorruptError{Path: path, Reason: "it is empty (0 bytes), so it was truncated or never written completely"}
	}
	if err := verify(path, opts.Timeout); err != nil {
		return nil, err
	}
	return openGuarded(path, &bolt.Options{Timeout: opts.Timeout})
}

// create makes a new database at path atomically: built and synced under a
// temporary name in the same directory, then hard-linked to path, which
// fails rather than replace a file another process created meanwhile.
func create(path string, opts Options) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	// After the link, removing the temporary name leaves the file in place.
	defer os.Remove(tmpPath)
	// CreateTemp made an empty file with mode 0600, which bbolt initialises.
	db, err := bolt.Open(tmpPath, FileMode, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if opts.Init != nil {
		if err := db.Update(opts.Init); err != nil {
			_ = db.Close()
			return fmt.Errorf("create %s: initialise: %w", path, err)
		}
	}
	if err := db.Sync(); err != nil {
		_ = db.Close()
		return fmt.Errorf("create %s: sync: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Link(tmpPath, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process won the race; open its file
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// maxCheckErrors bounds the consistency errors a CorruptError quotes: one
// damaged page can make Tx.Check report every page below it.
const maxCheckErrors = 5

// verify opens path read-only and checks it page by page. Reading a damaged
// page can panic or fault inside bbolt; both are turned into a CorruptError.
func verify(path string, timeout time.Duration) (err error) {
	db, err := openGuarded(path, &bolt.Options{ReadOnly: true, Timeout: timeout, PreLoadFreelist: true})
	if err != nil {
		return err
	}
	defer db.Close()
	defer recoverCorrupt(path, "a page is damaged", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if want := tx.Size(); fi.Size() < want {
			return &CorruptError{Path: path, Reason: fmt.Sprintf(
				"it is %d bytes but its last commit needs %d: the file was truncated", fi.Size(), want)}
		}
		// Walking every bucket, key and value here, in a goroutine that
		// turns memory faults into panics, first: Tx.Check runs in a
		// goroutine of its own, where a fault on a damaged page pointer
		// would crash the process.
		if err := walk(tx); err != nil {
			return &CorruptError{Path: path, Reason: "a bucket cannot be read", Err: err}
		}
		var errs []error
		n := 0
		for e := range tx.Check() {
			if n++; len(errs) < maxCheckErrors {
				errs = append(errs, e)
			}
		}
		if n > len(errs) {
			errs = append(errs, fmt.Errorf("and %d more", n-len(errs)))
		}
		if n > 0 {
			return &CorruptError{Path: path, Reason: "bbolt's consistency check failed", Err: errors.Join(errs...)}
		}
		return nil
	})
}

// walk reads every key and value of every bucket, nested ones included:
// the first and last byte of each, so that a length or offset pointing
// outside the file faults here.
func walk(tx *bolt.Tx) error {
	var sum byte
	touch := func(b []byte) {
		if len(b) > 0 {
			sum ^= b[0] ^ b[len(b)-1]
		}
	}
	var visit func(b *bolt.Bucket) error
	visit = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			touch(k)
			if v != nil {
				touch(v)
				return nil
			}
			child := b.Bucket(k)
			if child == nil {
				return fmt.Errorf("key %q has neither a value nor a bucket", k)
			}
			return visit(child)
		})
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		touch(name)
		return visit(b)
	})
	runtime.KeepAlive(sum) // the reads are the point
	return err
}

// openGuarded is bolt.Open with its panics and faults recovered as a
// CorruptError. A panic leaves bbolt's handle unreachable, so the file it
// opened is captured to be closed (which also drops its lock).
func openGuarded(path string, o *bolt.Options) (db *bolt.DB, err error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if err != nil && db == nil && file != nil {
			_ = file.Close()
		}
	}()
	defer recoverCorrupt(path, "a page is damaged", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	db, err = bolt.Open(path, FileMode, o)
	if err != nil {
		return nil, classify(path, err)
	}
	return db, nil
}

func classify(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open %s: %w", path, err)
	default:
		// ErrInvalid, ErrChecksum, ErrVersionMismatch, a short read of the
		// meta pages: the content is not a usable bbolt database.
		return &CorruptError{Path: path, Reason: "it cannot be read as a bbolt database", Err: err}
	}
}

// recoverCorrupt turns a panic (or, with SetPanicOnFault, a memory fault)
// into a CorruptError in *err. It must be deferred directly.
func recoverCorrupt(path, reason string, err *error) {
	if r := recover(); r != nil {
		*err = &CorruptError{Path: path, Reason: reason, Err: fmt.Errorf("bbolt panicked: %v", r)}
	}
}
