package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// DefaultRetention is how long a stopped task stays describable, as in ECS
// ("at least an hour").
const DefaultRetention = time.Hour

const (
	// maxPruneInterval bounds how long a task outlives its retention.
	maxPruneInterval = time.Minute
	// pruneBatch is the most tasks one transaction deletes, so that a
	// large backlog never holds the write lock for long.
	pruneBatch = 500
)

// PrunerOptions configure a Pruner.
type PrunerOptions struct {
	Store Store
	// Retention is how long after stopping a task is kept; 0 means
	// DefaultRetention.
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time // nil means time.Now
}

// Pruner deletes tasks that stopped more than the retention ago, so that
// the store holds live work and an hour of history, not every task ever
// run, and finishes deleting the task definition revisions that
// DeleteTaskDefinitions accepted once no task uses them. It takes its work
// from the store's stopped-task and deleting-revision indexes.
type Pruner struct {
	o   PrunerOptions
	log *slog.Logger
}

// NewPruner returns a Pruner; it does nothing until Run.
func NewPruner(o PrunerOptions) *Pruner {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pruner{o: o, log: o.Logger.With(logging.KeyComponent, "pruner")}
}

// Interval is how often Run prunes: a minute, or the retention when that
// is shorter.
func (p *Pruner) Interval() time.Duration { return min(maxPruneInterval, p.o.Retention) }

// Run prunes (and finishes task definition deletions) at once and then
// every Interval until ctx ends. A failed round is logged and tried again
// at the next.
func (p *Pruner) Run(ctx context.Context) {
	ticker := time.NewTicker(p.Interval())
	defer ticker.Stop()
	for {
		if n, err := p.Prune(ctx); err != nil {
			p.log.Error("could not prune stopped tasks", logging.KeyCount, n, logging.KeyError, err)
		} else if n > 0 {
			p.log.Info("pruned stopped tasks", logging.KeyCount, n, logging.KeyDuration, p.o.Retention)
		}
		if n, err := p.FinishTaskDefinitionDeletions(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("could not finish deleting task definitions", logging.KeyError, err)
		} else if n > 0 {
			p.log.Info("deleted task definitions that no task uses any more", logging.KeyCount, n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Prune deletes every task that stopped more than the retention ago, a
// batch per transaction, and returns how many it deleted.
func (p *Pruner) Prune(ctx context.Context) (int, error) {
	cutoff := p.o.Now().Add(-p.o.Retention)
	total := 0
	for ctx.Err() == nil {
		n := 0
		err := p.o.Store.Update(func(tx Tx) error {
			n = 0 // a retried transaction starts over
			old, err := tx.StoppedBefore(cutoff, pruneBatch)
			if err != nil {
				return err
			}
			for _, k := range old {
				if err := tx.DeleteTask(k.Cluster, k.ID); err != nil {
					return fmt.Errorf("delete task %s/%s: %w", k.Cluster, k.ID, err)
				}
			}
			n = len(old)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	return total, nil
}
