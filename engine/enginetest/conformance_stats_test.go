package enginetest

import "testing"

func TestStatsConformanceFake(t *testing.T) {
	RunStatsConformance(t, func(t *testing.T) StatsHarness {
		f := NewFake()
		f.SetImage(TestImage)
		return StatsHarness{Runtime: f, Stats: f, Image: TestImage}
	})
}
