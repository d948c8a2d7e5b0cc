package enginetest

import "testing"

func TestConformanceFake(t *testing.T) {
	RunConformance(t, FakeHarness)
}
