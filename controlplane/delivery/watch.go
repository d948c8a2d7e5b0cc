package delivery

import "github.com/open-ecs/ecs-agent/controlplane/store"

// Watch returns st wrapped so that the tasks each successful Update wrote
// are offered to d after the commit: the API layer needs no hook of its
// own, and nothing is sent for a write that rolled back.
func Watch(st store.Store, d *Deliverer) store.Store {
	return watched{Store: st, d: d}
}

type watched struct {
	store.Store
	d *Deliverer
}

func (w watched) Update(fn func(store.Tx) error) error { return w.write(w.Store.Update, fn) }

func (w watched) Batch(fn func(store.Tx) error) error { return w.write(w.Store.Batch, fn) }

func (w watched) write(run func(func(store.Tx) error) error, fn func(store.Tx) error) error {
	var written []store.Task
	err := run(func(tx store.Tx) error {
		written = written[:0] // a retried transaction starts over
		return fn(recordingTx{Tx: tx, written: &written})
	})
	if err == nil && len(written) > 0 {
		w.d.TasksWritten(written)
	}
	return err
}

type recordingTx struct {
	store.Tx
	written *[]store.Task
}

func (t recordingTx) PutTask(task store.Task) error {
	if err := t.Tx.PutTask(task); err != nil {
		return err
	}
	*t.written = append(*t.written, task)
	return nil
}
