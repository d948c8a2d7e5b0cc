package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
)

func TestListenable(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	assert.False(t, listenable("tcp", port), "a bound port is not free")
	require.NoError(t, l.Close())
	assert.True(t, listenable("tcp", port))
	assert.Regexp(t, `^\d+-\d+$`, kernelPortRange())
}

func TestDynamicPortsSurviveRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		a := newTask("porta", "main")
		a.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}, {ContainerPortRange: "7000-7002"}}
		h.add(a)
		synctest.Wait()
		ra := h.mustReport(a.ARN).container("main").NetworkBindings
		require.Len(t, ra, 2)
		assert.Equal(t, 40000, ra[0].HostPort)
		assert.Equal(t, "7000-7002", ra[1].ContainerPortRange)
		assert.Equal(t, "40001-40003", ra[1].HostPortRange)

		h.restart()
		b := newTask("portb", "main")
		b.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}}
		h.add(b)
		synctest.Wait()
		rb := h.mustReport(b.ARN).container("main").NetworkBindings
		require.Len(t, rb, 1)
		assert.Equal(t, 40004, rb[0].HostPort, "ports held by a running task are not handed out again after a restart")
	})
}

func TestHostNetworkPorts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("hostnet", "main")
		task.NetworkMode = "host"
		task.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 9090}}
		h.add(task)
		synctest.Wait()
		b := h.mustReport(task.ARN).container("main").NetworkBindings
		require.Len(t, b, 1)
		assert.Equal(t, 9090, b[0].HostPort)
	})
}

func TestSharedVolumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.cfg.TaskCleanupWaitDuration = time.Second
		h.start()
		missing := newTask("novol", "main")
		missing.Volumes = []wire.Volume{{Name: "cache", DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{Scope: wire.ScopeShared}}}
		h.add(missing)
		synctest.Wait()
		r := h.mustReport(missing.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, `shared volume "cache" does not exist and autoprovision is off`)

		auto := newTask("autovol", "main")
		auto.Volumes = []wire.Volume{{Name: "cache", DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{Scope: wire.ScopeShared, Autoprovision: true}}}
		auto.Containers[0].MountPoints = []wire.MountPoint{{SourceVolume: "cache", ContainerPath: "/cache"}}
		auto.Containers[0].Image = h.program(exits(0))
		h.add(auto)
		synctest.Wait()
		r = h.mustReport(auto.ARN)
		require.Equal(t, StatusStopped, r.Status)
		require.NoError(t, h.e.MarkReported(context.Background(), auto.ARN, r.Version))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		_, err := h.rt.InspectVolume(context.Background(), "cache")
		assert.NoError(t, err, "shared volumes outlive the task")
	})
}

// TestPortMappingValidation: payload port mappings get the checks the
// control plane applies to task definitions.
func TestPortMappingValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mode  string
		ports [][]wire.PortMapping // per container
		want  string               // "" means valid
	}{
		"bridge ranges":             {"bridge", [][]wire.PortMapping{{{ContainerPortRange: "7000-7099"}, {ContainerPortRange: "7100-7199"}, {ContainerPort: 80}}}, ""},
		"same port, two protocols":  {"bridge", [][]wire.PortMapping{{{ContainerPort: 53}, {ContainerPort: 53, Protocol: "udp"}}}, ""},
		"same port, two containers": {"bridge", [][]wire.PortMapping{{{ContainerPort: 80}}, {{ContainerPort: 80}}}, ""},
		"range in host mode": {"host", [][]wire.PortMapping{{{ContainerPortRange: "1-65535"}}},
			`containerPortRange "1-65535" is supported only in bridge network mode, not host`},
		"overlapping ranges": {"bridge", [][]wire.PortMapping{{{ContainerPortRange: "7000-7100"}, {ContainerPortRange: "7100-7200"}}},
			`container "a" maps container port 7100/tcp more than once`},
		"port inside a range": {"bridge", [][]wire.PortMapping{{{ContainerPortRange: "7000-7100"}, {ContainerPort: 7050}}},
			`maps container port 7050/tcp more than once`},
		"one-port range": {"bridge", [][]wire.PortMapping{{{ContainerPortRange: "80-80"}}},
			`containerPortRange "80-80" is not "first-last" with 1 <= first < last <= 65535`},
		"host port differs in host mode": {"host", [][]wire.PortMapping{{{ContainerPort: 80, HostPort: 8080}}},
			"hostPort 8080 must equal containerPort 80 in host network mode"},
		"ports in none mode": {"none", [][]wire.PortMapping{{{ContainerPort: 80}}},
			`container "a" has portMappings, which network mode none does not allow`},
		"host mode port twice across containers": {"host", [][]wire.PortMapping{{{ContainerPort: 80}}, {{ContainerPort: 80}}},
			`containers "a" and "b" both map host port 80/tcp`},
		"host port twice in a container": {"bridge", [][]wire.PortMapping{{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 8080}}},
			`container "a" maps host port 8080/tcp twice`},
	} {
		t.Run(name, func(t *testing.T) {
			wt := newTask("ports", "a", "b")
			wt.NetworkMode = tc.mode
			for i, pms := range tc.ports {
				wt.Containers[i].PortMappings = pms
			}
			_, reason := fromWire(wt, config.Default())
			if tc.want == "" {
				assert.Empty(t, reason)
				return
			}
			assert.Contains(t, reason, kindInvalid+": ")
			assert.Contains(t, reason, tc.want)
		})
	}

	wt := newTask("ranges", "a")
	for i := range maxPortRanges + 1 {
		wt.Containers[0].PortMappings = append(wt.Containers[0].PortMappings,
			wire.PortMapping{ContainerPortRange: fmt.Sprintf("%d-%d", 10000+2*i, 10001+2*i)})
	}
	_, reason := fromWire(wt, config.Default())
	assert.Contains(t, reason, `container "a" has 101 containerPortRange mappings; at most 100 are allowed`)
}

// hostRangePayload is a task of 1.9 KB in host network mode with 40
// overlapping full port ranges, which the agent used to expand port by
// port into the create body: 2.6 million exposed ports, about 250 MB.
func hostRangePayload(t *testing.T) []byte {
	t.Helper()
	pms := make([]map[string]any, 40)
	for i := range pms {
		pms[i] = map[string]any{"containerPortRange": "1-65535"}
	}
	task := map[string]any{"arn": arn("ranges"), "family": "fam", "version": "1", "desiredStatus": StatusRunning,
		"networkMode": "host", "containers": []any{map[string]any{"name": "a", "image": testImage, "memory": 64, "essential": true, "portMappings": pms}}}
	frame, err := json.Marshal(map[string]any{"type": "PayloadMessage", "message": map[string]any{"messageId": "m", "tasks": []any{task}}})
	require.NoError(t, err)
	require.Less(t, len(frame), 2000, "the payload is under 2 KB")
	return frame
}

// TestHostRangePayloadAllocationIsBounded bounds what such a payload costs
// from the frame to its STOPPED report: it is refused before any expansion.
func TestHostRangePayloadAllocationIsBounded(t *testing.T) {
	frame := hostRangePayload(t)
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		msg, err := wire.Decode(frame)
		require.NoError(t, err)
		task := &msg.(*wire.PayloadMessage).Tasks[0]
		h.add(task)
		synctest.Wait()
		runtime.ReadMemStats(&after)
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, "supported only in bridge network mode")
		assert.Zero(t, h.rt.Calls("CreateContainer"))
		const bound = 1 << 20
		t.Logf("allocated %d bytes for a %d-byte payload", after.TotalAlloc-before.TotalAlloc, len(frame))
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(bound), "bytes allocated to decode, refuse and report the task")
	})
}
