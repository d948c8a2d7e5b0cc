package statemanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/open-ecs/ecs-agent/internal/boltfile"
)

// DBFileName is the state file's name inside ECS_DATADIR.
const DBFileName = "agent.db"

// DefaultOpenTimeout bounds the wait for the file lock: long enough to ride
// out a previous agent that is still exiting, short enough that a second
// agent on the same data dir fails fast with ErrInUse.
const DefaultOpenTimeout = 5 * time.Second

// BoltOptions tunes OpenBolt. The zero value is the production setting.
type BoltOptions struct {
	// Timeout for the exclusive file lock; 0 means DefaultOpenTimeout.
	Timeout time.Duration
	// Logger records schema migrations; nil discards.
	Logger *slog.Logger

	// migrations replaces the package's list in tests.
	migrations []migration
}

// Bolt is the bbolt-backed Store.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens dataDir/agent.db, creating it only if it does not exist.
// The directory is created 0700 and the file 0600 because task records can
// hold environment variables with secrets. A locked file yields ErrInUse. An
// empty, truncated, damaged, foreign or newer-schema file yields ErrCorrupt
// with the path and the fix, and is left untouched: starting over would
// forget tasks whose containers still run. An older schema is migrated.
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
	list := opts.migrations
	if list == nil {
		list = migrations
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := boltfile.Open(path, boltfile.Options{
		Timeout: timeout,
		Init:    func(tx *bolt.Tx) error { return create(tx, schemaVersion(list)) },
	})
	switch {
	case errors.Is(err, boltfile.ErrLocked):
		return nil, fmt.Errorf("open %s: %w (another ecs-agent is probably running with ECS_DATADIR=%s)",
			path, ErrInUse, dataDir)
	case errors.Is(err, boltfile.ErrCorrupt):
		return nil, corruptError(path, err)
	case err != nil:
		return nil, fmt.Errorf("open state file: %w", err)
	}
	// Batch holds a lone write back for MaxBatchDelay hoping for company;
	// bbolt's 10 ms default adds 10 ms to every task transition. Writers
	// that do run together (a payload of many tasks, a burst of container
	// events) still share one commit within 1 ms.
	db.MaxBatchDelay = batchDelay
	b := &Bolt{db: db, path: path}
	if err := b.db.Update(func(tx *bolt.Tx) error { return upgrade(tx, path, list, log) }); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// batchDelay is how long a write waits for others to share its commit.
const batchDelay = time.Millisecond

// Path returns the state file's path.
func (b *Bolt) Path() string { return b.path }

// corruptError says which file, what is wrong with it and what the operator
// can do; the agent itself never resets state.
func corruptError(path string, cause error) error {
	if !errors.Is(cause, boltfile.ErrCorrupt) { // boltfile's errors name the file
		cause = fmt.Errorf("%s: %w", path, cause)
	}
	return fmt.Errorf("%w: %w; the agent never starts over on its own, because a new container "+
		"instance would lose track of the containers still running: move the file away "+
		"(mv %s %s.bad), remove those containers (docker ps -a --filter label=com.amazonaws.ecs.task-arn) "+
		"and restart, and the instance registers as a new container instance "+
		"(see \"State file\" in docs/operating.md)", ErrCorrupt, cause, path, path)
}

func (b *Bolt) mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Put implements Store.
func (b *Bolt) Put(bucket, key string, v any) error {
	return b.Apply(Change{Bucket: bucket, Key: key, Value: v})
}

// PutMany implements Store.
func (b *Bolt) PutMany(recs ...Record) error { return b.Apply(puts(recs)...) }

// Delete implements Store.
func (b *Bolt) Delete(bucket, key string) error {
	return b.Apply(Change{Bucket: bucket, Key: key, Delete: true})
}

// Apply implements Store. The changes are made in one bbolt transaction,
// group-committed with concurrent writers (Batch) and fsynced before Apply
// returns.
func (b *Bolt) Apply(changes ...Change) error {
	enc, err := encodeAll(changes)
	if err != nil {
		return err
	}
	// Batch may run fn more than once; puts and deletes are idempotent.
	err = b.db.Batch(func(tx *bolt.Tx) error {
		for _, e := range enc {
			bk := tx.Bucket([]byte(e.bucket))
			var err error
			if e.delete {
				err = bk.Delete([]byte(e.key))
			} else {
				err = bk.Put([]byte(e.key), e.raw)
			}
			if err != nil {
				return fmt.Errorf("%s/%s: %w", e.bucket, e.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", describe(enc), b.mapClosed(err))
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
