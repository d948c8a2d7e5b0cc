package engine

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
)

func specOf(t *testing.T, wt *wire.Task, name string, ports []NetworkBinding) (cfg, host map[string]any) {
	t.Helper()
	c := config.Default()
	c.Cluster = testCluster
	tk, reason := fromWire(wt, c)
	require.Empty(t, reason)
	for _, ct := range tk.Containers {
		ct.DockerName = "ecs-" + ct.Name
	}
	spec, err := buildSpec(tk.container(name), specInput{task: tk, cfg: c, ports: ports})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(spec.Config, &cfg))
	require.NoError(t, json.Unmarshal(spec.HostConfig, &host))
	return cfg, host
}

func TestSpecResourcesAndVolumes(t *testing.T) {
	wt := newTask("spec", "main", "data")
	wt.Containers[0].Memory = dockerMinMemoryMiB
	wt.Containers[0].CPU = 500000
	wt.Containers[0].Command = []string{"a"}
	wt.Containers[0].Overrides = `{"command":["b","c"]}`
	wt.Containers[0].EntryPoint = []string{"/bin/sh"}
	wt.Containers[0].Environment = map[string]string{"AWS_REGION": "eu-west-1"}
	wt.Containers[0].VolumesFrom = []wire.VolumeFrom{{SourceContainer: "data", ReadOnly: true}}
	wt.Containers[0].MountPoints = []wire.MountPoint{
		{SourceVolume: "host", ContainerPath: "/h", ReadOnly: true},
		{SourceVolume: "managed", ContainerPath: "/m"},
		{SourceVolume: "shared", ContainerPath: "/s"},
	}
	wt.Volumes = []wire.Volume{
		{Name: "host", Host: &wire.HostVolumeProperties{SourcePath: "/srv"}},
		{Name: "managed", Type: wire.VolumeTypeHost},
		{Name: "shared", DockerVolumeConfiguration: &wire.DockerVolumeConfiguration{Scope: wire.ScopeShared, Autoprovision: true}},
	}
	cfg, host := specOf(t, wt, "main", nil)
	assert.Equal(t, []any{"b", "c"}, cfg["Cmd"], "overrides.command replaces the command")
	assert.Equal(t, []any{"/bin/sh"}, cfg["Entrypoint"])
	assert.Equal(t, []any{"AWS_EXECUTION_ENV=AWS_ECS_EC2", "AWS_REGION=eu-west-1"}, cfg["Env"].([]any)[:2], "the task's region wins")
	assert.EqualValues(t, 6291456, host["Memory"], "Docker's floor, 6 MiB, passes as it is")
	assert.EqualValues(t, maxCPUShares, host["CpuShares"])
	assert.Equal(t, []any{"ecs-data:ro"}, host["VolumesFrom"])
	binds := host["Binds"].([]any)
	require.Len(t, binds, 3)
	assert.Equal(t, "/srv:/h:ro", binds[0])
	assert.Regexp(t, `^ecs-fam-3-managed-[0-9a-f]{20}:/m$`, binds[1])
	assert.Equal(t, "shared:/s", binds[2])
}

func TestSpecPortsAndNetworkModes(t *testing.T) {
	wt := newTask("ports", "main")
	wt.Containers[0].PortMappings = []wire.PortMapping{{ContainerPortRange: "7000-7002"}, {ContainerPort: 80, HostPort: 8080}}
	ports := []NetworkBinding{
		{Protocol: "tcp", ContainerPortRange: "7000-7002", HostPortRange: "41000-41002"},
		{Protocol: "tcp", ContainerPort: 80, HostPort: 8080},
	}
	cfg, host := specOf(t, wt, "main", ports)
	assert.Len(t, cfg["ExposedPorts"], 4)
	pb := host["PortBindings"].(map[string]any)
	assert.Equal(t, "41001", pb["7001/tcp"].([]any)[0].(map[string]any)["HostPort"])
	assert.Equal(t, "8080", pb["80/tcp"].([]any)[0].(map[string]any)["HostPort"])
	assert.Equal(t, "bridge", host["NetworkMode"])

	wt.NetworkMode = "host"
	wt.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80}}
	_, host = specOf(t, wt, "main", ports[1:])
	assert.Equal(t, "host", host["NetworkMode"])
	assert.Nil(t, host["PortBindings"], "host networking publishes nothing")

	wt.NetworkMode = "none"
	wt.Containers[0].PortMappings = nil
	_, host = specOf(t, wt, "main", nil)
	assert.Equal(t, "none", host["NetworkMode"])
}

func TestMergeIsDeepAndCaseInsensitive(t *testing.T) {
	dst := map[string]any{"Memory": 1.0, "LogConfig": map[string]any{"Type": "json-file", "Config": map[string]any{"a": "1"}}, "Binds": []any{"x"}}
	merge(dst, map[string]any{"memory": 2.0, "logConfig": map[string]any{"Config": map[string]any{"b": "2"}}, "Binds": []any{"y"}})
	assert.Equal(t, map[string]any{
		"Memory":    2.0,
		"LogConfig": map[string]any{"Type": "json-file", "Config": map[string]any{"a": "1", "b": "2"}},
		"Binds":     []any{"y"},
	}, dst)
}

func TestTaskNeed(t *testing.T) {
	wt := newTask("need", "a", "b")
	wt.Containers[0].CPU, wt.Containers[1].CPU = 256, 128
	wt.Containers[0].Memory, wt.Containers[1].Memory = 512, 512
	wt.Containers[1].DockerConfig = &wire.DockerConfig{HostConfig: `{"MemoryReservation":134217728}`}
	wt.Containers[0].PortMappings = []wire.PortMapping{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81}}
	tk, _ := fromWire(wt, config.Default())
	assert.Equal(t, need{CPU: 384, MemoryMiB: 512 + 128, Ports: []string{"8080/tcp"}}, taskNeed(tk))

	wt.CPU, wt.Memory = 0.5, 300
	tk, _ = fromWire(wt, config.Default())
	n := taskNeed(tk)
	assert.Equal(t, 512, n.CPU, "task cpu is in vCPU")
	assert.Equal(t, 300, n.MemoryMiB)
}

func TestPortAllocator(t *testing.T) {
	busy := map[uint16]bool{40002: true}
	p, err := newPortAllocator("40000-40009", HostResources{PortsTCP: []uint16{40000}},
		func(_ string, port uint16) bool { return !busy[port] })
	require.NoError(t, err)
	got, err := p.allocate("a", "tcp", 1)
	require.NoError(t, err)
	assert.Equal(t, 40001, got, "40000 is reserved")
	got, err = p.allocate("b", "tcp", 3)
	require.NoError(t, err)
	assert.Equal(t, 40003, got, "40002 cannot be bound; a range is contiguous")
	got, err = p.allocate("b", "udp", 1)
	require.NoError(t, err)
	assert.Equal(t, 40006, got, "udp 40000 is not reserved, but the search continues round-robin")
	_, err = p.allocate("c", "tcp", 5)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ECS_DYNAMIC_HOST_PORT_RANGE")
	p.release("b")
	got, err = p.allocate("c", "tcp", 5)
	require.NoError(t, err)
	assert.Equal(t, 40003, got)

	_, err = newPortAllocator("9-1", HostResources{}, nil)
	require.Error(t, err)
}

func TestStatusJSON(t *testing.T) {
	for _, s := range []status{statusNone, statusPulled, statusCreated, statusRunning, statusStopped} {
		raw, err := json.Marshal(s)
		require.NoError(t, err)
		var back status
		require.NoError(t, json.Unmarshal(raw, &back))
		assert.Equal(t, s, back)
	}
	var s status
	require.NoError(t, json.Unmarshal([]byte(`"DEAD"`), &s))
	assert.Equal(t, statusStopped, s)
	require.Error(t, json.Unmarshal([]byte(`"BOGUS"`), &s))
}

func TestSpecLinuxParametersAndNamespaces(t *testing.T) {
	yes, shm := true, 64
	wt := newTask("spec", "main")
	wt.PIDMode, wt.IPCMode = "host", "host"
	wt.Containers[0].LinuxParameters = &wire.LinuxParameters{
		Capabilities:       &wire.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		InitProcessEnabled: &yes,
		SharedMemorySize:   &shm,
		Devices: []wire.Device{{HostPath: "/dev/fuse", Permissions: []wire.DeviceCgroupPermission{
			wire.DeviceCgroupPermissionRead, wire.DeviceCgroupPermission("write")}}},
	}
	wt.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"ShmSize":1048576}`}
	_, host := specOf(t, wt, "main", nil)
	assert.Equal(t, []any{"NET_ADMIN"}, host["CapAdd"])
	assert.Equal(t, []any{"MKNOD"}, host["CapDrop"])
	assert.Equal(t, true, host["Init"])
	assert.EqualValues(t, 1<<20, host["ShmSize"], "dockerConfig.hostConfig wins over linuxParameters")
	assert.Equal(t, []any{map[string]any{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}}, host["Devices"])
	assert.Equal(t, "host", host["PidMode"])
	assert.Equal(t, "host", host["IpcMode"])
}

func TestTaskNamespaceModeRefused(t *testing.T) {
	for _, tc := range []struct{ pid, ipc, want string }{
		{pid: "task", want: `pidMode "task" is not supported`},
		{ipc: "task", want: `ipcMode "task" is not supported`},
		{pid: "none", want: `pidMode "none" is not valid`},
		{ipc: "shareable", want: `ipcMode "shareable" is not valid`},
	} {
		wt := newTask("ns", "main")
		wt.PIDMode, wt.IPCMode = tc.pid, tc.ipc
		_, reason := fromWire(wt, config.Default())
		assert.Contains(t, reason, tc.want)
		assert.Contains(t, reason, kindInvalid)
	}
	wt := newTask("ns", "main")
	wt.IPCMode = "none"
	_, reason := fromWire(wt, config.Default())
	assert.Empty(t, reason)
}
