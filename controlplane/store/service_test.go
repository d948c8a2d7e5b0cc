package store

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/testutil"
)

// A file written by the release before services (schema version 3) is
// migrated by the services step and those after it, keeps its records,
// and then keeps services.
func TestFileBeforeServicesMigrates(t *testing.T) {
	path, want := copyV0(t)
	before := slices.IndexFunc(migrations, func(m migration) bool { return strings.Contains(m.name, "keep ECS services") })
	require.Positive(t, before)
	s, err := open(path, Options{}, migrations[:before])
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Equal(t, strconv.Itoa(before), fileVersion(t, path))

	var logs testutil.SyncBuffer
	s, err = OpenWith(path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "keep ECS services")
	assert.Equal(t, SchemaVersion-before, strings.Count(logs.String(), "migrated the control plane database"), "the services step and the ones after it")

	svc := Service{Cluster: "default", Name: "web", Status: ServiceActive, DesiredCount: 2,
		Deployments: []Deployment{{ID: "ecs-svc/1", Status: DeploymentPrimary, Family: "web", Revision: 1}},
		CreatedAt:   time.Unix(1700000000, 0).UTC()}
	require.NoError(t, s.Update(func(tx Tx) error { return tx.PutService(svc) }))
	require.NoError(t, s.View(func(tx Tx) error {
		tasks, err := tx.Tasks("")
		require.NoError(t, err)
		assert.Equal(t, want.Tasks, tasks)
		got, err := tx.Service("default", "web")
		require.NoError(t, err)
		assert.Equal(t, svc, got)
		all, err := tx.Services("")
		require.NoError(t, err)
		assert.Len(t, all, 1)
		none, err := tx.Services("other")
		require.NoError(t, err)
		assert.Empty(t, none)
		return nil
	}))
	require.NoError(t, s.Close())
	assert.Equal(t, strconv.Itoa(SchemaVersion), fileVersion(t, path))
}

// A revision a live service deploys is in use: its deletion waits.
func TestServiceDeploymentKeepsTaskDefinitionInUse(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(func(tx Tx) error {
		require.NoError(t, tx.PutCluster(Cluster{Name: "default", Status: StatusActive}))
		return tx.PutService(Service{Cluster: "default", Name: "web", Status: ServiceActive,
			Deployments: []Deployment{{ID: "ecs-svc/1", Family: "web", Revision: 3}}})
	}))
	require.NoError(t, s.View(func(tx Tx) error {
		inUse, err := taskDefinitionsInUse(tx)
		require.NoError(t, err)
		assert.True(t, inUse[TaskDefinitionKey{Family: "web", Revision: 3}])
		return nil
	}))
}
