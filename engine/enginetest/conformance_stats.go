package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// statsWait bounds how long the suite waits for samples: Docker's stream
// sends one a second, and its first may take two.
const statsWait = 20 * time.Second

// StatsHarness is what RunStatsConformance needs from one runtime.
type StatsHarness struct {
	Runtime runtime.Runtime
	Stats   runtime.Stats
	// Image is a local image with a shell (TestImage).
	Image string
}

// RunStatsConformance checks the stats calls of one runtime: samples of a
// running container arrive in order with growing counters and Docker's JSON
// as Raw; an unknown container is ErrNotFound; a removed container ends its
// stream; cancelling ends it cleanly.
func RunStatsConformance(t *testing.T, newHarness func(t *testing.T) StatsHarness) {
	t.Run("StreamRunning", func(t *testing.T) {
		h := newHarness(t)
		id := startSleeper(t, h)
		ctx, cancel := context.WithTimeout(t.Context(), statsWait)
		defer cancel()
		var got []runtime.ContainerStats
		err := h.Stats.StreamStats(ctx, id, func(s runtime.ContainerStats) {
			assertDockerJSON(t, s.Raw) // valid during the call
			s.Raw = nil
			got = append(got, s)
			if len(got) == 3 {
				cancel()
			}
		})
		require.NoError(t, err, "a cancelled stream ends without error")
		require.Len(t, got, 3, "three samples within %s", statsWait)
		for i, s := range got {
			assert.False(t, s.Read.IsZero(), "sample %d has a read time", i)
			assert.NotZero(t, s.MemoryUsage, "sample %d has a working set", i)
			assert.NotZero(t, s.OnlineCPUs, "sample %d counts CPUs", i)
			if i > 0 {
				assert.True(t, s.Read.After(got[i-1].Read), "read times grow: %v then %v", got[i-1].Read, s.Read)
				assert.GreaterOrEqual(t, s.CPUUsage, got[i-1].CPUUsage, "CPU time never goes back")
				assert.GreaterOrEqual(t, s.Network.RxBytes, got[i-1].Network.RxBytes)
			}
		}
	})

	t.Run("Once", func(t *testing.T) {
		h := newHarness(t)
		id := startSleeper(t, h)
		s, err := h.Stats.StatsOnce(t.Context(), id)
		require.NoError(t, err)
		assert.False(t, s.Read.IsZero())
		assert.NotZero(t, s.MemoryUsage)
		assertDockerJSON(t, s.Raw)
	})

	t.Run("UnknownContainer", func(t *testing.T) {
		h := newHarness(t)
		const missing = "0000000000000000000000000000000000000000000000000000000000000000"
		_, err := h.Stats.StatsOnce(t.Context(), missing)
		require.ErrorIs(t, err, runtime.ErrNotFound)
		ctx, cancel := context.WithTimeout(t.Context(), statsWait)
		defer cancel()
		err = h.Stats.StreamStats(ctx, missing, func(runtime.ContainerStats) { t.Error("a sample of a missing container") })
		require.ErrorIs(t, err, runtime.ErrNotFound)
	})

	t.Run("RemovedEndsStream", func(t *testing.T) {
		h := newHarness(t)
		id := startSleeper(t, h)
		ctx, cancel := context.WithTimeout(t.Context(), statsWait)
		defer cancel()
		samples := 0
		err := h.Stats.StreamStats(ctx, id, func(runtime.ContainerStats) {
			samples++
			if samples == 1 {
				require.NoError(t, h.Runtime.RemoveContainer(t.Context(), id))
			}
		})
		require.NoError(t, ctx.Err(), "the stream must end when the container goes, not at the deadline")
		require.Error(t, err, "a stream that ends because its container went is an error")
		assert.Positive(t, samples)
	})
}

// startSleeper creates and starts a container that runs until removed.
func startSleeper(t *testing.T, h StatsHarness) string {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{
		"Image":  h.Image,
		"Cmd":    []string{"sh", "-c", "trap 'exit 143' TERM; sleep 3600 & wait"},
		"Labels": map[string]string{"ecs-agent-test": "stats"},
	})
	require.NoError(t, err)
	id, err := h.Runtime.CreateContainer(t.Context(), runtime.CreateSpec{
		Name: "ecs-agent-test-stats-" + time.Now().Format("150405.000000000"), Config: cfg, HostConfig: json.RawMessage(`{}`),
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		err := h.Runtime.RemoveContainer(context.Background(), id)
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("remove %s: %v", id, err)
		}
	})
	require.NoError(t, h.Runtime.StartContainer(t.Context(), id))
	return id
}

// assertDockerJSON checks that raw is Docker's stats object.
func assertDockerJSON(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "Raw is a JSON object")
	for _, k := range []string{"read", "cpu_stats", "memory_stats"} {
		assert.Contains(t, m, k, "Raw has Docker's %q", k)
	}
}
