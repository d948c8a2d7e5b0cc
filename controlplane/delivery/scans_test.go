package delivery

import (
	"errors"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// noScans is the store the deliverer runs on in these tests: reading every
// task (Tx.Tasks) fails, so that the sweep's cost cannot grow with the
// stopped tasks kept as history: it reads the undelivered-task index.
type noScans struct{ store.Store }

func (s noScans) View(fn func(store.Tx) error) error {
	return s.Store.View(func(tx store.Tx) error { return fn(noScanTx{tx}) })
}

func (s noScans) Update(fn func(store.Tx) error) error {
	return s.Store.Update(func(tx store.Tx) error { return fn(noScanTx{tx}) })
}

func (s noScans) Batch(fn func(store.Tx) error) error {
	return s.Store.Batch(func(tx store.Tx) error { return fn(noScanTx{tx}) })
}

type noScanTx struct{ store.Tx }

func (noScanTx) Tasks(string) ([]store.Task, error) {
	return nil, errors.New("the sweep read every task: use the index")
}
