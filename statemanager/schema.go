package statemanager

import (
	"fmt"
	"log/slog"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// bucketSchema holds our schema version; a file with buckets but without it
// was written by another program.
const (
	bucketSchema = "open-ecs"
	keySchema    = "schema-version"
)

// SchemaVersion is the layout version this code writes and understands:
// 1 + the number of migrations.
const SchemaVersion = 1

// migration upgrades agent.db by one schema version. It runs in the same
// transaction as the others and as the version update, so a file is
// migrated completely or not at all.
//
// A migration works on the raw buckets, never on today's Go types: those
// change, and the migration must keep meaning what it meant when written.
type migration struct {
	name  string
	apply func(tx *bolt.Tx) error
}

// migrations[i] upgrades schema version i+1 to i+2. Append only, and bump
// SchemaVersion with each one.
//
// Bump the version only when an older agent could no longer read what the
// new code writes (a field renamed, a record moved), since an agent refuses
// a file from a newer schema: a downgrade then needs the operator. Adding a
// field that older agents ignore needs no version. Each new version also
// gets a fixture written by its code (engine/testdata/agentdb-v<N>) that
// later versions must keep loading.
var migrations = []migration{}

// schemaVersion is the version a list of migrations leads to.
func schemaVersion(list []migration) int { return len(list) + 1 }

// create gives a new file its schema version and buckets. boltfile runs it
// before the file gets its name, so agent.db never exists without them.
func create(tx *bolt.Tx, version int) error {
	sb, err := tx.CreateBucket([]byte(bucketSchema))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketSchema, err)
	}
	if err := sb.Put([]byte(keySchema), []byte(strconv.Itoa(version))); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return createBuckets(tx)
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range Buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// upgrade checks the file's schema version, applies the migrations it
// lacks in order, and creates buckets a newer version added.
func upgrade(tx *bolt.Tx, path string, list []migration, log *slog.Logger) error {
	target := schemaVersion(list)
	sb := tx.Bucket([]byte(bucketSchema))
	if sb == nil {
		foreign := false
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
			foreign = true
			return nil
		})
		if foreign {
			return corruptError(path, fmt.Errorf("it has no %s schema version, so it was written by "+
				"another program (for example the Amazon ECS agent)", bucketSchema))
		}
		// A bbolt file with nothing in it, as an agent older than atomic
		// creation could leave: there is nothing to forget.
		return create(tx, target)
	}
	raw := sb.Get([]byte(keySchema))
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return corruptError(path, fmt.Errorf("unreadable schema version %q", raw))
	}
	if v > target {
		return corruptError(path, fmt.Errorf("schema version %d is newer than this agent's %d "+
			"(was a newer agent run here?); run that version again", v, target))
	}
	for ; v < target; v++ {
		m := list[v-1]
		if err := m.apply(tx); err != nil {
			return corruptError(path, fmt.Errorf("migrate schema version %d to %d (%s): %w", v, v+1, m.name, err))
		}
		if err := sb.Put([]byte(keySchema), []byte(strconv.Itoa(v+1))); err != nil {
			return fmt.Errorf("migrate %s: write schema version: %w", path, err)
		}
		log.Info("migrated the state file: "+m.name, logging.KeyFile, path, logging.KeyVersion, v+1)
	}
	return createBuckets(tx)
}
