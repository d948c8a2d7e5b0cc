package engine

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
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
