package statetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/statemanager"
)

func TestFaulty(t *testing.T) {
	f := NewFaulty(statemanager.NewMemory())
	full := errors.New("no space left on device")
	require.NoError(t, f.Put(statemanager.BucketTasks, "a", 1))

	f.FailAfter(1, full)
	require.NoError(t, f.Delete(statemanager.BucketTasks, "a"), "one more write passes")
	require.ErrorIs(t, f.Put(statemanager.BucketTasks, "b", 2), full)
	require.ErrorIs(t, f.PutMany(statemanager.Record{Bucket: statemanager.BucketTasks, Key: "c", Value: 3}), full)
	require.ErrorIs(t, f.Apply(statemanager.Change{Bucket: statemanager.BucketTasks, Key: "d", Value: 4}), full)
	assert.Equal(t, 3, f.Failed())
	var v int
	require.ErrorIs(t, f.Get(statemanager.BucketTasks, "b", &v), statemanager.ErrNotFound, "a failed write writes nothing")
	require.ErrorIs(t, f.Get(statemanager.BucketTasks, "a", &v), statemanager.ErrNotFound, "reads pass through")

	f.Heal()
	require.NoError(t, f.Put(statemanager.BucketTasks, "b", 2))
	require.NoError(t, f.Get(statemanager.BucketTasks, "b", &v))
	assert.Equal(t, 2, v)
}
