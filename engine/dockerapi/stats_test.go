package dockerapi

import (
	"testing"

	"github.com/open-ecs/ecs-agent/engine/enginetest"
)

func TestStatsConformanceDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine")
	}
	c := dockerClient(t)
	enginetest.RunStatsConformance(t, func(*testing.T) enginetest.StatsHarness {
		return enginetest.StatsHarness{Runtime: c, Stats: c, Image: enginetest.TestImage}
	})
}
