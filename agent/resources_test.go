package agent

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
)

func TestMemTotalMiB(t *testing.T) {
	got, err := memTotalMiB(strings.NewReader("MemFree: 1 kB\nMemTotal:       16314320 kB\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(15931), got)

	_, err = memTotalMiB(strings.NewReader("MemFree: 1 kB\n"))
	require.Error(t, err)
	_, err = memTotalMiB(strings.NewReader("MemTotal: lots kB\n"))
	require.Error(t, err)
}

func TestHostResources(t *testing.T) {
	p := writeMemInfo(t, 2048*1024) // 2048 MiB
	res, err := hostResources(p, 512, []uint16{22, 2375}, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(runtime.NumCPU()*1024), res.CPU)
	assert.Equal(t, int32(1536), res.MemoryMiB)

	_, err = hostResources(p, 2048, nil, nil)
	require.ErrorContains(t, err, "ECS_RESERVED_MEMORY")
	_, err = hostResources(p+".missing", 0, nil, nil)
	require.Error(t, err)
}

func TestRegistrationResourcesWireShape(t *testing.T) {
	res := HostResources{CPU: 4096, MemoryMiB: 15700, PortsTCP: []uint16{22, 2375, 2376, 51678, 51679}}
	raw, err := json.Marshal(res.registrationResources())
	require.NoError(t, err)
	// Go field names here; the SDK serializer renders them camelCase. What
	// matters is the content, including an empty (not null) UDP set.
	var got []struct {
		Name           *string
		Type           *string
		IntegerValue   int32
		StringSetValue []string
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got, 4)
	assert.Equal(t, "CPU", *got[0].Name)
	assert.Equal(t, "INTEGER", *got[0].Type)
	assert.Equal(t, int32(4096), got[0].IntegerValue)
	assert.Equal(t, "MEMORY", *got[1].Name)
	assert.Equal(t, int32(15700), got[1].IntegerValue)
	assert.Equal(t, "PORTS", *got[2].Name)
	assert.Equal(t, "STRINGSET", *got[2].Type)
	assert.Equal(t, []string{"22", "2375", "2376", "51678", "51679"}, got[2].StringSetValue)
	assert.Equal(t, "PORTS_UDP", *got[3].Name)
	assert.NotNil(t, got[3].StringSetValue)
	assert.Empty(t, got[3].StringSetValue)
}

func TestRegistrationAttributes(t *testing.T) {
	docker := dockerapi.VersionInfo{ServerVersion: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12"}
	cfg := config.Default()
	cfg.AvailableLoggingDrivers = []string{"json-file", "awslogs", "awsfirelens"}
	attrs := registrationAttributes(docker, engineCapabilities(cfg, docker, hostFeatures{}), map[string]string{"stack": "prod", "az-pref": "b"})
	got := map[string]string{}
	var order []string
	for _, a := range attrs {
		got[*a.Name] = ""
		if a.Value != nil {
			got[*a.Name] = *a.Value
		}
		order = append(order, *a.Name)
	}
	assert.Equal(t, "linux", got["ecs.os-type"])
	assert.Equal(t, "LINUX", got["ecs.os-family"])
	assert.Equal(t, cpuArchitecture(runtime.GOARCH), got["ecs.cpu-architecture"])
	assert.Equal(t, "prod", got["stack"])
	assert.Equal(t, []string{"az-pref", "stack"}, order[len(order)-2:], "custom attributes sorted, last")

	var apis []string
	for name := range got {
		if v, ok := strings.CutPrefix(name, "com.amazonaws.ecs.capability.docker-remote-api."); ok {
			apis = append(apis, v)
		}
	}
	assert.ElementsMatch(t, []string{"1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24",
		"1.25", "1.28", "1.29", "1.30", "1.32"}, apis, "1.26, 1.27 and 1.31 are never advertised")

	for _, name := range []string{
		"ecs.capability.container-ordering", "ecs.capability.network.container-port-range",
		"ecs.capability.container-restart-policy", "ecs.capability.container-health-check",
		"com.amazonaws.ecs.capability.privileged-container",
		"com.amazonaws.ecs.capability.logging-driver.json-file", "com.amazonaws.ecs.capability.logging-driver.awslogs",
	} {
		assert.Contains(t, got, name)
	}
	for name := range got {
		assert.NotContains(t, name, "awsfirelens", "no FireLens router")
		assert.NotContains(t, name, "task-iam-role")
		assert.NotEqual(t, "ecs.availability-zone", name, "the backend sets the AZ")
	}
}

func TestRegistrationAttributesOldEngine(t *testing.T) {
	attrs := registrationAttributes(dockerapi.VersionInfo{APIVersion: "1.24", MinAPIVersion: "1.18"}, nil, nil)
	var apis []string
	for _, a := range attrs {
		if v, ok := strings.CutPrefix(*a.Name, "com.amazonaws.ecs.capability.docker-remote-api."); ok {
			apis = append(apis, v)
		}
	}
	assert.Equal(t, []string{"1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24"}, apis)
}

func TestEngineCapabilitiesFollowConfig(t *testing.T) {
	cfg := config.Default()
	cfg.PrivilegedDisabled = true
	cfg.DisableDockerHealthCheck = true
	cfg.AvailableLoggingDrivers = []string{"none", "gelf"}
	caps := engineCapabilities(cfg, dockerapi.VersionInfo{APIVersion: "1.19", MinAPIVersion: "1.12"}, hostFeatures{})
	assert.Equal(t, []string{
		"ecs.capability.container-ordering", "ecs.capability.network.container-port-range",
		"ecs.capability.container-restart-policy", "com.amazonaws.ecs.capability.logging-driver.none",
	}, caps, "no privileged, no health check, gelf needs API 1.20")
}

func TestCPUArchitecture(t *testing.T) {
	assert.Equal(t, "x86_64", cpuArchitecture("amd64"))
	assert.Equal(t, "arm64", cpuArchitecture("arm64"))
	assert.Equal(t, "i386", cpuArchitecture("386"))
}

func TestEndpointURL(t *testing.T) {
	assert.Equal(t, "https://ecs.us-west-2.amazonaws.com", endpointURL("ecs.us-west-2.amazonaws.com"))
	assert.Equal(t, "http://127.0.0.1:51677", endpointURL("http://127.0.0.1:51677"))
	assert.Equal(t, "", endpointURL(""))
}
