package enginetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// TestImage is the local busybox image scripts/dev-setup.sh builds; the
// fake harness provides the same reference.
const TestImage = "ecs-agent-test/busybox:latest"

// Harness is what RunConformance needs from one runtime: the runtime and
// the things that differ between the fake and real Docker.
type Harness struct {
	Runtime runtime.Runtime
	// Image is a local image whose shell runs the commands below.
	Image string
	// MissingImage is a reference whose pull must fail (quickly: no
	// internet registry is needed to say no).
	MissingImage string
	// ExitCmd returns a command that exits at once with code.
	ExitCmd func(code int) []string
	// RunCmd runs until stopped and exits 143 on SIGTERM.
	RunCmd []string
	// IgnoreTermCmd runs until SIGKILL: it ignores SIGTERM.
	IgnoreTermCmd []string
	// HealthyTest is a health check test that passes.
	HealthyTest []string
}

// BusyboxHarness returns the harness for rt with the busybox commands that
// both real Docker (with TestImage) and the fake understand.
func BusyboxHarness(rt runtime.Runtime) Harness {
	return Harness{
		Runtime: rt,
		Image:   TestImage,
		// Port 1 on loopback refuses at once, so the pull fails without
		// waiting on DNS or a registry.
		MissingImage:  "127.0.0.1:1/ecs-agent-test/missing:latest",
		ExitCmd:       func(code int) []string { return []string{"sh", "-c", fmt.Sprintf("exit %d", code)} },
		RunCmd:        []string{"sh", "-c", "trap 'exit 143' TERM; sleep 3600 & wait"},
		IgnoreTermCmd: []string{"sh", "-c", "trap '' TERM; sleep 3600 & wait"},
		HealthyTest:   []string{"CMD-SHELL", "exit 0"},
	}
}

// FakeHarness returns a harness on a new fake that has TestImage.
func FakeHarness(t *testing.T) Harness {
	t.Helper()
	f := NewFake()
	f.SetImage(TestImage)
	return BusyboxHarness(f)
}

// mustJSON marshals v for CreateSpec fields.
func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}
