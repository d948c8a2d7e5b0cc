package store

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// SchemaVersion is the layout this code writes and reads: the number of
// migrations. Version 0 is the layout from before versions existed (up to
// commit fab846d): the four record buckets and no schema bucket.
var SchemaVersion = len(migrations)

var (
	// bucketSchema marks the file as the control plane's and holds its
	// schema version. Its name differs from the agent's ("open-ecs"), so
	// that an agent.db put in this file's place is refused as foreign.
	bucketSchema = []byte("ecs-controlplane")
	keySchema    = []byte("schema-version")
	// legacyBuckets are the version-0 buckets: a file with these alone is
	// a control plane file written before schema versions.
	legacyBuckets = []string{"clusters", "container-instances", "task-definitions", "tasks"}
)

// errUnreadableRecord marks a migration failure caused by a record that
// cannot be decoded, which no retry can fix.
var errUnreadableRecord = errors.New("a record cannot be read")

// migration brings a file from schema version n-1 to n, where n is its
// place in the list (counted from 1). Each runs in its own transaction
// together with the version it reaches, so a crash leaves a file at one
// version or the next, never in between.
type migration struct {
	name  string
	apply func(tx *bolt.Tx) error
}

// migrations is every schema change in order. Append to it; never change
// or reorder a step that has been released. A new index is a step that
// builds it (buildTaskIndexes); a new record bucket needs none (see
// recordBuckets).
var migrations = []migration{
	{
		// Name the indexes one by one: a later index gets its own step.
		name: "index tasks by cluster and live status, desired status, undelivered desired status and stop time",
		apply: func(tx *bolt.Tx) error {
			return buildTaskIndexes(tx, indexLive, indexDesired, indexUndelivered, indexStopped)
		},
	},
	{
		// No file before this step holds a client token, so both buckets
		// start empty; client-token-times is an index of client-tokens
		// and, as every derived bucket, is made by a migration.
		name: "keep the outcome of requests made with a clientToken, indexed by time",
		apply: func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketClientTokens, bucketClientTokenTimes} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		},
	},
	{
		name:  "index task definitions whose deletion is in progress",
		apply: buildTaskDefinitionDeletingIndex,
	},
	{
		name:  "keep ECS services, their deployments and events",
		apply: createServicesBucket,
	},
	{
		name: "keep each live task's placement summary in the live index",
		apply: func(tx *bolt.Tx) error {
			return buildTaskIndexes(tx, indexLive)
		},
	},
}

// schemaVersion reads the file's version: 0 for a version-0 file (or one
// with no bucket at all, which holds nothing to lose). A file with other
// buckets and no version is foreign; a newer version is refused, since
// this code cannot know what it changed.
func schemaVersion(tx *bolt.Tx, path string, steps []migration) (int, error) {
	sb := tx.Bucket(bucketSchema)
	if sb == nil {
		var foreign []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !slices.Contains(legacyBuckets, string(name)) {
				foreign = append(foreign, string(name))
			}
			return nil
		})
		if len(foreign) > 0 {
			return 0, corruptError(path, fmt.Sprintf("it has no %s schema version and holds buckets this control plane never wrote (%s): "+
				"it was written by another program, for example an ecs-agent's agent.db", bucketSchema, strings.Join(foreign, ", ")), nil)
		}
		return 0, nil
	}
	raw := sb.Get(keySchema)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, corruptError(path, fmt.Sprintf("its schema version %q is not a version number", raw), nil)
	}
	if v > len(steps) {
		return 0, corruptError(path, fmt.Sprintf("its schema version %d is newer than this ecs-controlplane's %d: "+
			"it was written by a newer release; run that release, or restore a backup from before the upgrade", v, len(steps)), nil)
	}
	return v, nil
}

// migrate brings b from its version to len(steps), one transaction per
// step, then makes sure every record bucket exists.
func migrate(b *Bolt, steps []migration, log *slog.Logger) error {
	var from int
	if err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		from, err = schemaVersion(tx, b.path, steps)
		return err
	}); err != nil {
		return err
	}
	for v := from + 1; v <= len(steps); v++ {
		step := steps[v-1]
		began := time.Now()
		err := b.db.Update(func(tx *bolt.Tx) error {
			if err := step.apply(tx); err != nil {
				return err
			}
			sb, err := tx.CreateBucketIfNotExists(bucketSchema)
			if err != nil {
				return err
			}
			return sb.Put(keySchema, []byte(strconv.Itoa(v)))
		})
		if errors.Is(err, errUnreadableRecord) {
			// Running the step again cannot help: an operator must decide.
			return corruptError(b.path, fmt.Sprintf("migrating it to schema version %d (%s) failed, so it stays at version %d", v, step.name, v-1), err)
		}
		if err != nil {
			return fmt.Errorf("migrate %s to schema version %d (%s); it stays at version %d: %w", b.path, v, step.name, v-1, err)
		}
		log.Info("migrated the control plane database", logging.KeyFile, b.path, logging.KeyVersion, v,
			logging.KeyReason, step.name, logging.KeyDuration, time.Since(began))
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		for _, name := range recordBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s in %s: %w", name, b.path, err)
			}
		}
		return nil
	})
}
