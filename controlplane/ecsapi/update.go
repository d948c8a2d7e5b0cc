package ecsapi

import "github.com/open-ecs/ecs-agent/controlplane/store"

// update runs fn in a write transaction for an API request. While the
// request waits for the write lock it is counted in requestsWaiting, and
// a service round that sees it ends its transaction after the service at
// hand (reconcileServices): a caller of RunTask or UpdateService waits
// for one service's reconcile at most, not for a round's transaction of
// up to roundTxServices. The agents' reports (Batch) and the rounds
// themselves do not count: they are the steady background a round is
// written around, and would otherwise cut every round to one service.
func (a *API) update(fn func(store.Tx) error) error {
	a.requestsWaiting.Add(1)
	waiting := true
	done := func() {
		if waiting {
			waiting = false
			a.requestsWaiting.Add(-1)
		}
	}
	defer done() // the store refused before fn ran
	return a.o.Store.Update(func(tx store.Tx) error {
		done()
		return fn(tx)
	})
}
