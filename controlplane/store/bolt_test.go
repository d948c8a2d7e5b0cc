package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoltPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)

	now := time.Now().UTC().Round(time.Millisecond)
	val := "v"
	err = s.Update(func(tx Tx) error {
		for _, name := range []string{"b", "a", "a-b"} {
			if err := tx.PutCluster(Cluster{Name: name, ARN: "arn/" + name, Status: StatusActive, CreatedAt: now}); err != nil {
				return err
			}
		}
		for _, ci := range []ContainerInstance{
			{ID: "2", Cluster: "a", Status: StatusActive, Version: 1, RegisteredAt: now,
				Attributes:          []Attribute{{Name: "n", Value: &val}},
				RegisteredResources: []Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}}},
			{ID: "1", Cluster: "a", Status: StatusInactive},
			{ID: "3", Cluster: "a-b", Status: StatusActive},
		} {
			if err := tx.PutInstance(ci); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	err = s.View(func(tx Tx) error {
		clusters, err := tx.Clusters()
		require.NoError(t, err)
		require.Len(t, clusters, 3)
		assert.Equal(t, []string{"a", "a-b", "b"}, []string{clusters[0].Name, clusters[1].Name, clusters[2].Name})
		assert.True(t, now.Equal(clusters[0].CreatedAt))

		got, err := tx.Instances("a")
		require.NoError(t, err)
		require.Len(t, got, 2, "prefix scan must not include cluster a-b")
		assert.Equal(t, "1", got[0].ID)
		assert.Equal(t, "v", *got[1].Attributes[0].Value)
		assert.Equal(t, int32(1024), got[1].RegisteredResources[0].IntegerValue)

		all, err := tx.Instances("")
		require.NoError(t, err)
		assert.Len(t, all, 3)

		_, err = tx.Instance("b", "2")
		assert.True(t, errors.Is(err, ErrNotFound))
		_, err = tx.Cluster("zz")
		assert.True(t, errors.Is(err, ErrNotFound))
		return nil
	})
	require.NoError(t, err)
}

func TestBoltUpdateErrorRollsBack(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	boom := errors.New("boom")
	err = s.Update(func(tx Tx) error {
		require.NoError(t, tx.PutCluster(Cluster{Name: "x"}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.View(func(tx Tx) error {
		_, err := tx.Cluster("x")
		assert.ErrorIs(t, err, ErrNotFound)
		return nil
	}))
}

// InstancesShared reads what Instances reads; a copy that Instances handed
// out and its caller changed does not reach what InstancesShared reads.
func TestInstancesSharedReadsWhatInstancesReads(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	val := "v"
	require.NoError(t, s.Update(func(tx Tx) error {
		return tx.PutInstance(ContainerInstance{ID: "1", Cluster: "a", Status: StatusActive,
			Attributes: []Attribute{{Name: "n", Value: &val}}})
	}))
	require.NoError(t, s.View(func(tx Tx) error {
		for range 2 { // decoded, then from the cache
			copied, err := tx.Instances("a")
			require.NoError(t, err)
			shared, err := tx.InstancesShared("a")
			require.NoError(t, err)
			assert.Equal(t, copied, shared)
			*copied[0].Attributes[0].Value = "changed"
			copied[0].Attributes[0].Name = "changed"
			again, err := tx.InstancesShared("a")
			require.NoError(t, err)
			assert.Equal(t, "n", again[0].Attributes[0].Name)
			assert.Equal(t, "v", *again[0].Attributes[0].Value)
		}
		return nil
	}))
}
