package store

import (
	"fmt"
	"slices"
)

// LiveTask is what placement and the counts of DescribeServices,
// DescribeClusters and DescribeContainerInstances read of a task that is
// not STOPPED: where it runs, what it holds and whose it is. Reading it
// rather than the whole Task matters on a large cluster, where each of
// those reads every live task (its JSON names match Task's).
type LiveTask struct {
	ID                   string      `json:"id"`
	ContainerInstanceARN string      `json:"containerInstanceArn"`
	LastStatus           string      `json:"lastStatus"`
	DesiredStatus        string      `json:"desiredStatus"`
	StartedBy            string      `json:"startedBy,omitempty"`
	Group                string      `json:"group,omitempty"`
	Reserved             Reservation `json:"reserved"`
}

// Live returns t's LiveTask.
func (t Task) Live() LiveTask {
	return LiveTask{ID: t.ID, ContainerInstanceARN: t.ContainerInstanceARN, LastStatus: t.LastStatus,
		DesiredStatus: t.DesiredStatus, StartedBy: t.StartedBy, Group: t.Group, Reserved: t.Reserved}.Clone()
}

// Clone returns a deep copy of l.
func (l LiveTask) Clone() LiveTask {
	l.Reserved.PortsTCP = slices.Clone(l.Reserved.PortsTCP)
	l.Reserved.PortsUDP = slices.Clone(l.Reserved.PortsUDP)
	return l
}

// liveTaskCacheLimit bounds the LiveTask cache: an entry is the task's
// bytes and a small struct.
const liveTaskCacheLimit = 20_000

// LiveTaskSummaries reads the live index alone: each entry holds the
// task's LiveTask (indexLive). An entry without one (none is written so
// since the migration that added them) is read from the task's record.
func (t boltTx) LiveTaskSummaries(cluster, instanceARN string) ([]LiveTask, error) {
	prefix := joinKey(cluster, "")
	if instanceARN != "" {
		prefix = joinKey(cluster, instanceARN, "")
	}
	tasks := t.tx.Bucket(bucketTasks)
	var out []LiveTask
	err := t.scanIndexValues(indexLive, prefix, func(p []string, raw []byte) error {
		key := taskKey(p[0], p[2])
		if len(raw) == 0 {
			if raw = tasks.Get(key); raw == nil {
				return fmt.Errorf("%w: index %s names task %s/%s, which does not exist", ErrCorrupt, indexLive.bucket, p[0], p[2])
			}
		}
		lt, err := t.caches.liveTasks.decode(indexLive.bucket, key, raw)
		if err != nil {
			return err
		}
		out = append(out, lt)
		return nil
	})
	return out, err
}
