package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A task definition survives the JSON round trip of the store with the
// difference between unset and zero intact.
func TestTaskDefinitionRoundTrip(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	zero, no := 0, false
	td := TaskDefinition{
		ARN: "arn:aws:ecs:us-east-1:1:task-definition/web:2", Family: "web", Revision: 2, Status: StatusActive,
		CPU: "1 vCPU", Memory: "512", NetworkMode: NetworkModeHost,
		RegisteredAt: time.Unix(1700000000, 0).UTC(),
		ContainerDefinitions: []ContainerDefinition{{
			Name: "app", Image: "busybox", Essential: &no,
			PortMappings: []PortMapping{{ContainerPort: &zero}},
			HealthCheck:  &HealthCheck{Command: []string{"CMD", "true"}, StartPeriod: &zero},
		}, {Name: "side", Image: "busybox"}},
		Tags: []Tag{{Key: "k", Value: "v"}},
	}
	require.NoError(t, s.Update(func(tx Tx) error { return tx.PutTaskDefinition(td) }))

	var got TaskDefinition
	require.NoError(t, s.View(func(tx Tx) error {
		var err error
		got, err = tx.TaskDefinition("web", 2)
		return err
	}))
	assert.Equal(t, td, got)
	assert.True(t, got.DeregisteredAt.IsZero())

	app, ok := got.Container("app")
	require.True(t, ok)
	assert.False(t, app.IsEssential())
	require.NotNil(t, app.PortMappings[0].ContainerPort, "0 is kept apart from unset")
	assert.Nil(t, app.PortMappings[0].HostPort)
	side, _ := got.Container("side")
	assert.True(t, side.IsEssential(), "essential defaults to true")
	_, ok = got.Container("nope")
	assert.False(t, ok)
}
