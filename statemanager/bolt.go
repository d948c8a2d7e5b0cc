package statemanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DBFileName is the state file's name inside ECS_DATADIR.
const DBFileName = "agent.db"

// DefaultOpenTimeout bounds the wait for the file lock: long enough to ride
// out a previous agent that is still exiting, short enough that a second
// agent on the same data dir fails fast with ErrInUse.
const DefaultOpenTimeout = 5 * time.Second

// bucketSchema holds our schema version; a file without it is foreign.
const (
	bucketSchema = "open-ecs"
	keySchema    = "schema-version"
)

// BoltOptions tunes OpenBolt. The zero value is the production setting.
type BoltOptions struct {
	// Timeout for the exclusive file lock; 0 means DefaultOpenTimeout.
	Timeout time.Duration
}

// Bolt is the bbolt-backed Store.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (creating if needed) dataDir/agent.db. The directory is
// created 0700 and the file 0600 because task records can hold environment
// variables with secrets. A locked file yields ErrInUse; an unreadable,
// foreign or newer-schema file yields ErrCorrupt with the path and the fix.
func OpenBolt(dataDir string, opts BoltOptions) (*Bolt, error) {
	if dataDir == "" {
		return nil, errors.New("open state: empty data directory (ECS_DATADIR)")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, DBFileName)
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultOpenTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return nil, classifyOpenError(path, dataDir, err)
	}
	// Batch holds a lone write back for MaxBatchDelay hoping for company;
	// bbolt's 10 ms default adds 10 ms to every task transition. Writers
	// that do run together (a payload of many tasks, a burst of container
	// events) still share one commit within 1 ms.
	db.MaxBatchDelay = batchDelay
	b := &Bolt{db: db, path: path}
	if err := b.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// batchDelay is how long a write waits for others to share its commit.
const batchDelay = time.Millisecond

// Path returns the state file's path.
func (b *Bolt) Path() string { return b.path }

func corruptError(path, why string, err error) error {
	if err != nil {
		why = fmt.Sprintf("%s (%v)", why, err)
	}
	return fmt.Errorf("%w: %s: %s; the agent never resets state on its own: "+
		"move the file away (e.g. mv %s %s.bad) and restart, and the instance "+
		"registers as a new container instance", ErrCorrupt, path, why, path, path)
}

func classifyOpenError(path, dataDir string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w (another ecs-agent is probably running with ECS_DATADIR=%s)",
			path, ErrInUse, dataDir)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open state file %s: %w", path, err)
	default:
		// bbolt reports garbage as ErrInvalid, ErrChecksum, ErrVersionMismatch
		// or a size/mmap error; all mean the content is not a usable database.
		return corruptError(path, "cannot read it as a bbolt database", err)
	}
}

// init checks integrity and the schema version, and creates the buckets of
// a new file.
func (b *Bolt) init() error {
	// A torn or damaged file is detected here, at start-up, rather than as a
	// panic or a missing record in the middle of a task.
	var checkErr error
	if err := b.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if checkErr == nil {
				checkErr = err
			}
		}
		return nil
	}); err != nil {
		return corruptError(b.path, "integrity check failed", err)
	}
	if checkErr != nil {
		return corruptError(b.path, "integrity check failed", checkErr)
	}

	return b.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket([]byte(bucketSchema))
		if sb == nil {
			foreign := false
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
				foreign = true
				return nil
			})
			if foreign {
				return corruptError(b.path, "it has no "+bucketSchema+" schema version, "+
					"so it was written by another program (for example the Amazon ECS agent)", nil)
			}
			var err error
			if sb, err = tx.CreateBucket([]byte(bucketSchema)); err != nil {
				return fmt.Errorf("init %s: %w", b.path, err)
			}
			if err := sb.Put([]byte(keySchema), []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return fmt.Errorf("init %s: %w", b.path, err)
			}
		}
		raw := sb.Get([]byte(keySchema))
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return corruptError(b.path, fmt.Sprintf("unreadable schema version %q", raw), nil)
		}
		if v > SchemaVersion {
			return corruptError(b.path, fmt.Sprintf("schema version %d is newer than this agent's %d "+
				"(was a newer agent run here?)", v, SchemaVersion), nil)
		}
		for _, name := range Buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("init %s: bucket %s: %w", b.path, name, err)
			}
		}
		return nil
	})
}

func (b *Bolt) mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Put implements Store.
func (b *Bolt) Put(bucket, key string, v any) error {
	return b.PutMany(Record{Bucket: bucket, Key: key, Value: v})
}

// PutMany implements Store. The records are written in one bbolt
// transaction, group-committed with concurrent writers (Batch) and fsynced
// before PutMany returns.
func (b *Bolt) PutMany(recs ...Record) error {
	enc, err := encodeAll(recs)
	if err != nil {
		return err
	}
	// Batch may run fn more than once; plain puts are idempotent.
	err = b.db.Batch(func(tx *bolt.Tx) error {
		for _, e := range enc {
			if err := tx.Bucket([]byte(e.bucket)).Put([]byte(e.key), e.raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", describe(enc), b.mapClosed(err))
	}
	return nil
}

// Get implements Store.
func (b *Bolt) Get(bucket, key string, v any) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	var raw []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		if val := tx.Bucket([]byte(bucket)).Get([]byte(key)); val != nil {
			raw = append([]byte(nil), val...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", bucket, key, b.mapClosed(err))
	}
	if raw == nil {
		return fmt.Errorf("get %s/%s: %w", bucket, key, ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete implements Store.
func (b *Bolt) Delete(bucket, key string) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	err := b.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, b.mapClosed(err))
	}
	return nil
}

// ForEach implements Store. It walks a copy taken in one read transaction,
// so fn may write to the store (a write inside a bbolt read transaction can
// deadlock when the file grows).
func (b *Bolt) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return fmt.Errorf("walk %s: %w", bucket, err)
	}
	type rec struct {
		key string
		raw []byte
	}
	var recs []rec
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, v []byte) error {
			recs = append(recs, rec{string(k), append([]byte(nil), v...)})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", bucket, b.mapClosed(err))
	}
	for _, r := range recs {
		if err := fn(r.key, r.raw); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Store.
func (b *Bolt) Close() error {
	return b.db.Close()
}
