package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	rt "github.com/open-ecs/ecs-agent/engine/runtime"
)

// TestDockerMemoryFloor proves dockerMinMemoryMiB against the real engine:
// Docker creates a container with exactly the floor as its memory limit
// and as its reservation, and refuses one byte less, so the agent refuses
// exactly what Docker would.
func TestDockerMemoryFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker; skipped with -short")
	}
	d := dockerRuntime(t)
	cluster := "engine-floor-" + randHex()[:8]
	t.Cleanup(func() { removeClusterContainers(t, d, cluster) })
	floor := int64(dockerMinMemoryMiB) << 20

	create := func(key string, bytes int64) error {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cfg, err := json.Marshal(map[string]any{"Image": testImage, "Cmd": []string{"true"}, "Labels": map[string]string{LabelCluster: cluster}})
		require.NoError(t, err)
		host, err := json.Marshal(map[string]any{key: bytes})
		require.NoError(t, err)
		_, err = d.CreateContainer(ctx, rt.CreateSpec{Name: "ecs-floor-" + randHex(), Config: cfg, HostConfig: host})
		return err
	}
	for _, key := range []string{"Memory", "MemoryReservation"} {
		assert.NoError(t, create(key, floor), "%s of %d bytes", key, floor)
		err := create(key, floor-1)
		if assert.Error(t, err, "%s of %d bytes", key, floor-1) {
			assert.Contains(t, err.Error(), "Minimum memory")
		}
	}
}
