package enginetest

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// TestImage is the local busybox image scripts/dev-setup.sh builds; the
// fake harness provides the same reference.
const TestImage = "ecs-agent-test/busybox:latest"

// Harness is what RunConformance needs from one runtime: the runtime and
// the ways to arrange, on that runtime, what a test needs. Optional fields
// left nil skip the tests that need them.
type Harness struct {
	Runtime runtime.Runtime
	// Image is a local image. The suite never removes it.
	Image string
	// MissingImage is a reference whose pull must fail quickly.
	MissingImage string
	// Container returns the image and command of a container whose process
	// behaves as p. The fake registers p for a new image (SetProgram);
	// Docker runs a busybox command.
	Container func(t *testing.T, p Program) (image string, cmd []string)
	// HealthyTest is a health check test that passes on this runtime.
	HealthyTest []string
	// TakePort returns a TCP host port that something outside the runtime
	// holds until the test ends.
	TakePort func(t *testing.T) uint16

	// BreakEvents ends every open event stream with an error, as a restart
	// of the engine does; later streams work again.
	BreakEvents func(t *testing.T)
	// Registry returns an image to pull with credentials, from a registry
	// that refuses other credentials. It may skip the test.
	Registry func(t *testing.T) RegistryImage
	// StalledImage returns a reference whose pull starts and then receives
	// nothing more.
	StalledImage func(t *testing.T) string
}

// RegistryImage is a pullable image and the credentials its registry wants.
type RegistryImage struct {
	Ref  string
	Auth runtime.RegistryAuth
}

// BusyboxHarness returns the harness for a real Docker engine rt: Programs
// become busybox commands in TestImage and ports are taken by listening on
// them. The caller adds what needs more than the runtime (BreakEvents,
// Registry, StalledImage).
func BusyboxHarness(rt runtime.Runtime) Harness {
	return Harness{
		Runtime: rt,
		Image:   TestImage,
		// Port 1 on loopback refuses at once, so the pull fails without
		// waiting on DNS or a registry.
		MissingImage: "127.0.0.1:1/ecs-agent-test/missing:latest",
		Container:    func(_ *testing.T, p Program) (string, []string) { return TestImage, BusyboxCommand(p) },
		HealthyTest:  []string{"CMD-SHELL", "exit 0"},
		TakePort:     listenOnPort,
	}
}

// BusyboxCommand is the busybox command that behaves as p on real Docker.
// Health is not part of it: the health check test decides that.
func BusyboxCommand(p Program) []string {
	switch {
	case p.StartFails:
		return []string{"/ecs-agent-test/no-such-program"}
	case p.OOM:
		// Doubles a string until the memory limit is hit.
		return []string{"sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"}
	case p.Exits:
		return []string{"sh", "-c", fmt.Sprintf("exit %d", p.ExitCode)}
	case p.IgnoreTerm:
		return []string{"sh", "-c", "trap '' TERM; sleep 3600 & wait"}
	}
	return []string{"sh", "-c", "trap 'exit 143' TERM; sleep 3600 & wait"}
}

// listenOnPort holds a host TCP port on all addresses until the test ends.
func listenOnPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatalf("take a host port: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	n, _ := strconv.ParseUint(port, 10, 16)
	return uint16(n)
}

// programImages numbers the images the fake harness registers.
var programImages atomic.Int64

// FakeHarness returns a harness on a new fake that has TestImage, with
// every control the suite needs.
func FakeHarness(t *testing.T) Harness {
	t.Helper()
	f := NewFake()
	f.SetImage(TestImage)
	nextPort := uint16(20000)
	return Harness{
		Runtime:      f,
		Image:        TestImage,
		MissingImage: "127.0.0.1:1/ecs-agent-test/missing:latest",
		Container: func(_ *testing.T, p Program) (string, []string) {
			ref := fmt.Sprintf("enginetest/program-%d:latest", programImages.Add(1))
			f.SetImage(ref)
			f.SetProgram(ref, p)
			return ref, nil
		},
		HealthyTest: []string{"CMD-SHELL", "exit 0"},
		TakePort: func(t *testing.T) uint16 {
			nextPort++
			t.Cleanup(f.OccupyPort("tcp", nextPort))
			return nextPort
		},
		BreakEvents: func(*testing.T) { f.BreakEvents(nil) },
		Registry: func(*testing.T) RegistryImage {
			auth := runtime.RegistryAuth{Username: "ecs-test", Password: "secret", ServerAddress: "127.0.0.1:5000"}
			ref := fmt.Sprintf("127.0.0.1:5000/ecs-test/app-%d:latest", programImages.Add(1))
			f.SetRegistryImage(ref, &auth)
			return RegistryImage{Ref: ref, Auth: auth}
		},
		StalledImage: func(*testing.T) string {
			ref := fmt.Sprintf("127.0.0.1:5001/ecs-test/stalled-%d:latest", programImages.Add(1))
			f.SetRegistryImage(ref, nil)
			f.StallPull(ref)
			return ref
		},
	}
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
