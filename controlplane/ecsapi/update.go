package ecsapi

import (
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// update runs fn in a write transaction for an API request. While the
// request waits for the write lock it is counted in a.requests, and the
// service rounds give way to it (reconcileServices ends its transaction
// after the service at hand, reconcileCluster waits for the request to
// have had the lock before it begins the next one): a caller of RunTask
// or UpdateService waits for one service's reconcile at most, not for a
// round's transactions. The agents' reports (Batch) and the rounds
// themselves do not count: they are the steady background a round is
// written around, and would otherwise cut every round to one service.
func (a *API) update(fn func(store.Tx) error) error {
	a.requests.enter()
	began := false
	err := a.o.Store.Update(func(tx store.Tx) error {
		if !began { // a transaction the store runs again is still begun
			began = true
			a.requests.leave()
		}
		return fn(tx)
	})
	if !began { // the store refused before the transaction began
		a.requests.leave()
	}
	return err
}

// requestGate counts the API requests waiting for the write lock.
type requestGate struct {
	mu      sync.Mutex
	waiting int
	// none is closed while no request waits, and replaced by an open
	// channel when one begins to.
	none chan struct{}
}

func (g *requestGate) enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting == 0 {
		g.none = make(chan struct{})
	}
	g.waiting++
}

func (g *requestGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting--
	if g.waiting == 0 {
		close(g.none)
	}
}

// busy says whether a request waits for the write lock.
func (g *requestGate) busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting > 0
}

// await returns once no request waits, or after at most limit. Ending a
// transaction is not enough to let a waiting request in: the goroutine
// that just released the lock is running and takes it again first, so a
// round waits here between its transactions. The limit keeps a steady
// stream of requests from holding the rounds back for good.
func (g *requestGate) await(limit time.Duration) {
	g.mu.Lock()
	none := g.none
	idle := g.waiting == 0
	g.mu.Unlock()
	if idle {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-none:
	case <-t.C:
	}
}
