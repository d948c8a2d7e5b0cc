package ecsapi

import (
	"errors"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// noScans is the store every API test runs on: reading every task of a
// cluster (Tx.Tasks) fails, so that no request's cost can grow with the
// stopped tasks kept as history. Requests read the task indexes instead.
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
	return nil, errors.New("a request read every task: use an index")
}
