package ecsapi

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// roundStore counts write transactions and fails the writes of one
// service, if named.
type roundStore struct {
	store.Store
	updates atomic.Int32
	failing string
}

func (s *roundStore) Update(fn func(store.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(func(tx store.Tx) error { return fn(failingServiceTx{tx, s.failing}) })
}

type failingServiceTx struct {
	store.Tx
	name string
}

func (t failingServiceTx) PutService(svc store.Service) error {
	if svc.Name == t.name {
		return errors.New("disk full")
	}
	return t.Tx.PutService(svc)
}

// roundFixture has one instance (2048 CPU, 3900 MiB), ten services of a
// small task and three of a 1500 MiB one (two fit), all created and not
// yet reconciled.
func roundFixture(t *testing.T, failing string) (*fixture, *roundStore) {
	t.Helper()
	f := newServiceFixture(t)
	ctx := context.Background()
	withInstance(t, f)
	_, err := f.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("tiny"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String("busybox"), Cpu: 2, Memory: aws.Int32(16)}}})
	require.NoError(t, err)
	create := func(name, def string) {
		_, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String(name),
			TaskDefinition: aws.String(def), DesiredCount: aws.Int32(1)})
		require.NoError(t, err)
	}
	for i := range 10 {
		create(fmt.Sprintf("s%02d", i), "tiny")
	}
	for i := range 3 {
		create(fmt.Sprint("w", i), "web")
	}
	rs := &roundStore{Store: f.api.o.Store, failing: failing}
	f.api.o.Store = rs
	f.api.roundBudget = time.Hour // count by services only
	return f, rs
}

// A round writes a cluster's busy services together, and each sees the
// tasks the ones before it started: of three services whose tasks need
// 1500 MiB on an instance of 3900, two place and one says why not.
func TestServiceRoundWritesServicesTogether(t *testing.T) {
	f, rs := roundFixture(t, "")
	require.NoError(t, f.api.ReconcileServices(context.Background()))
	assert.Equal(t, int32(1), rs.updates.Load(), "13 services, one write transaction")
	for i := range 10 {
		assert.Len(t, serviceTaskList(t, f, fmt.Sprintf("s%02d", i)), 1)
	}
	placed := 0
	for i := range 3 {
		name := fmt.Sprint("w", i)
		switch n := len(serviceTaskList(t, f, name)); n {
		case 1:
			placed++
		case 0:
			assert.Contains(t, serviceEvents(t, f, name), "was unable to place a task")
		default:
			t.Errorf("service %s has %d tasks", name, n)
		}
	}
	assert.Equal(t, 2, placed)
}

// A service that cannot be written fails alone: the others of its
// transaction are written one by one, the rest as before.
func TestServiceRoundIsolatesAFailingService(t *testing.T) {
	f, rs := roundFixture(t, "s03")
	err := f.api.ReconcileServices(context.Background())
	require.ErrorContains(t, err, "disk full")
	for i := range 10 {
		name := fmt.Sprintf("s%02d", i)
		if name == "s03" {
			assert.Empty(t, serviceTaskList(t, f, name), "its tasks went with its failed write")
			continue
		}
		assert.Len(t, serviceTaskList(t, f, name), 1, name)
	}
	// The shared transaction (failed at s03), s00–s03 again one by one,
	// then the other nine together.
	assert.Equal(t, int32(1+4+1), rs.updates.Load())
}

// refusingStore refuses every write transaction before it begins, as a
// closed store does.
type refusingStore struct{ store.Store }

func (refusingStore) Update(func(store.Tx) error) error { return errors.New("database not open") }

// A store that refuses writes ends the round with its error; it does not
// spin on the same services.
func TestServiceRoundEndsWhenTheStoreRefuses(t *testing.T) {
	f, rs := roundFixture(t, "")
	f.api.o.Store = refusingStore{rs.Store}
	require.ErrorContains(t, f.api.ReconcileServices(context.Background()), "database not open")
}

// A round with an API request waiting for the write lock ends its
// transaction after each service, so that the request goes next; the
// services are reconciled as they would be together.
func TestServiceRoundGivesWayToWaitingRequests(t *testing.T) {
	f, rs := roundFixture(t, "")
	f.api.requests.enter() // a request that waits for the whole round
	f.api.roundYield = time.Millisecond
	require.NoError(t, f.api.ReconcileServices(context.Background()))
	assert.Equal(t, int32(13), rs.updates.Load(), "13 services, a transaction each")
	placed := 0
	for i := range 3 {
		placed += len(serviceTaskList(t, f, fmt.Sprint("w", i)))
	}
	assert.Equal(t, 2, placed, "two 1500 MiB tasks fit on 3900 MiB")
}

// An API request is counted as waiting from its call until its
// transaction begins, and no longer, whether the transaction commits,
// fails, or never begins.
func TestUpdateCountsRequestsWhileTheyWait(t *testing.T) {
	f := newFixture(t)
	holding, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = f.api.o.Store.Update(func(store.Tx) error { close(holding); <-release; return nil })
	}()
	<-holding
	began := make(chan bool, 1)
	result := make(chan error, 1)
	go func() {
		result <- f.api.update(func(store.Tx) error { began <- f.api.requests.busy(); return errors.New("refused") })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !f.api.requests.busy() {
		require.True(t, time.Now().Before(deadline), "the request was never counted as waiting")
		runtime.Gosched()
	}
	close(release)
	assert.False(t, <-began, "counted while its transaction ran")
	assert.EqualError(t, <-result, "refused")
	assert.False(t, f.api.requests.busy())

	closed := newFixture(t)
	require.NoError(t, closed.api.o.Store.Close())
	assert.Error(t, closed.api.update(func(store.Tx) error { return nil }))
	assert.False(t, closed.api.requests.busy(), "counted after the store refused")
}

// A round waits before a transaction until the requests waiting have had
// the write lock, and no longer than its limit.
func TestRoundAwaitsWaitingRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g requestGate
		g.enter()
		g.enter()
		began := time.Now()
		go func() {
			time.Sleep(5 * time.Millisecond)
			g.leave()
			time.Sleep(5 * time.Millisecond)
			g.leave()
		}()
		g.await(time.Second)
		assert.Equal(t, 10*time.Millisecond, time.Since(began), "until the last request left")

		g.enter()
		began = time.Now()
		g.await(25 * time.Millisecond)
		assert.Equal(t, 25*time.Millisecond, time.Since(began), "at most the limit")
		g.leave()
		began = time.Now()
		g.await(time.Second)
		assert.Zero(t, time.Since(began), "no request, no wait")
	})
}
