package ecsapi

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// planStore runs between, once armed, the first read transaction that
// ends and the next write transaction: the moment another writer can
// change what RunTask planned on. It counts the full instance listings
// made inside write transactions.
type planStore struct {
	store.Store
	between  atomic.Pointer[func()]
	listings atomic.Int32
}

func (s *planStore) View(fn func(store.Tx) error) error {
	err := s.Store.View(fn)
	if between := s.between.Swap(nil); between != nil {
		(*between)()
	}
	return err
}

func (s *planStore) Update(fn func(store.Tx) error) error {
	return s.Store.Update(func(tx store.Tx) error { return fn(listingTx{tx, &s.listings}) })
}

type listingTx struct {
	store.Tx
	listings *atomic.Int32
}

func (t listingTx) Instances(cluster string) ([]store.ContainerInstance, error) {
	t.listings.Add(1)
	return t.Tx.Instances(cluster)
}

func withPlanStore(f *fixture) *planStore {
	ps := &planStore{Store: f.api.o.Store}
	f.api.o.Store = ps
	return ps
}

func runApp(t *testing.T, f *fixture, expr string, count int32) *ecs.RunTaskOutput {
	t.Helper()
	in := &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("app"), Count: aws.Int32(count),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}}}
	if expr != "" {
		in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String(expr)}}
	}
	out, err := f.ecs.RunTask(context.Background(), in)
	require.NoError(t, err)
	return out
}

// RunTask places in a read transaction and, while its plan holds, the
// write transaction reads only the planned instance, not the cluster.
func TestRunTaskWritesItsPlan(t *testing.T) {
	f := newFixture(t)
	a := connectedInstance(t, f, "p", "i-a")
	connectedInstance(t, f, "p", "i-b")
	register(t, f, appDef("app", 0))
	ps := withPlanStore(f)

	out := runApp(t, f, "ec2InstanceId == i-a", 2)
	require.Len(t, out.Tasks, 2)
	assert.Equal(t, a, aws.ToString(out.Tasks[0].ContainerInstanceArn))
	assert.Equal(t, a, aws.ToString(out.Tasks[1].ContainerInstanceArn))
	assert.Equal(t, int32(0), ps.listings.Load(), "the write transaction listed the cluster's instances")
	assert.Equal(t, int32(3900-2*1500), remaining(t, f, "p", a, "MEMORY"))
}

// A plan that another writer made stale is placed again on the whole
// cluster: the task goes where there is room, and the planned instance
// is not given more than it has.
func TestRunTaskPlacesAgainWhenItsPlanIsTaken(t *testing.T) {
	f := newFixture(t)
	a := connectedInstance(t, f, "p", "i-a")
	b := connectedInstance(t, f, "p", "i-b")
	register(t, f, appDef("app", 0))
	ps := withPlanStore(f)
	runApp(t, f, "ec2InstanceId == i-b", 1) // binpack now plans on b, the fuller

	taken := func() { runApp(t, f, "ec2InstanceId == i-b", 1) } // b: 900 MiB left
	ps.between.Store(&taken)
	out := runApp(t, f, "", 1)

	require.Len(t, out.Tasks, 1)
	assert.Equal(t, a, aws.ToString(out.Tasks[0].ContainerInstanceArn))
	assert.Empty(t, out.Failures)
	assert.Equal(t, int32(900), remaining(t, f, "p", b, "MEMORY"))
	assert.Equal(t, int32(2400), remaining(t, f, "p", a, "MEMORY"))
}

// When no instance has room any more, RunTask answers the failure of a
// placement made in its write transaction, and writes nothing.
func TestRunTaskFailsWhenItsPlanIsTakenAndNothingElseFits(t *testing.T) {
	f := newFixture(t)
	connectedInstance(t, f, "p", "i-a")
	b := connectedInstance(t, f, "p", "i-b")
	register(t, f, appDef("app", 0))
	ps := withPlanStore(f)

	taken := func() { runApp(t, f, "ec2InstanceId == i-b", 2) }
	ps.between.Store(&taken)
	out := runApp(t, f, "ec2InstanceId == i-b", 1)

	assert.Empty(t, out.Tasks)
	assert.Contains(t, out.Failures, types.Failure{Arn: aws.String(b), Reason: aws.String("RESOURCE:MEMORY")})
	assert.Equal(t, int32(900), remaining(t, f, "p", b, "MEMORY"))
}
