package payload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

func ptr[T any](v T) *T { return &v }

// webDefinition is a definition that uses most members, as the API stores it.
func webDefinition() store.TaskDefinition {
	return store.TaskDefinition{
		ARN:         "arn:aws:ecs:us-west-2:123456789012:task-definition/web:3",
		Family:      "web",
		Revision:    3,
		Status:      store.StatusActive,
		NetworkMode: "",
		PIDMode:     "host",
		CPU:         "0.25 vCPU",
		Memory:      "1 GB",
		ContainerDefinitions: []store.ContainerDefinition{
			{
				Name:                   "app",
				Image:                  "nginx:1.25",
				CPU:                    256,
				Memory:                 ptr(512),
				MemoryReservation:      ptr(256),
				Command:                []string{"nginx", "-g", "daemon off;"},
				EntryPoint:             []string{"/docker-entrypoint.sh"},
				Environment:            []store.KeyValuePair{{Name: "MODE", Value: "prod"}, {Name: "KEEP", Value: "1"}},
				Links:                  []string{"init:setup"},
				PortMappings:           []store.PortMapping{{ContainerPort: ptr(80), HostPort: ptr(0), Protocol: "tcp"}, {ContainerPortRange: "9000-9002", Protocol: "udp"}},
				MountPoints:            []store.MountPoint{{SourceVolume: "data", ContainerPath: "/data", ReadOnly: ptr(true)}},
				VolumesFrom:            []store.VolumeFrom{{SourceContainer: "init"}},
				DependsOn:              []store.ContainerDependency{{ContainerName: "init", Condition: "SUCCESS"}},
				HealthCheck:            &store.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}, Interval: ptr(10), StartPeriod: ptr(5)},
				LogConfiguration:       &store.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "10m"}},
				Ulimits:                []store.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}},
				StopTimeout:            ptr(30),
				StartTimeout:           ptr(60),
				Privileged:             ptr(true),
				User:                   "1000:1000",
				WorkingDirectory:       "/srv",
				DockerLabels:           map[string]string{"team": "a"},
				Hostname:               "app-host",
				ExtraHosts:             []store.HostEntry{{Hostname: "db.local", IPAddress: "10.0.0.5"}},
				DNSServers:             []string{"1.1.1.1"},
				DNSSearchDomains:       []string{"example.com"},
				DockerSecurityOptions:  []string{"no-new-privileges"},
				ReadonlyRootFilesystem: ptr(true),
				LinuxParameters: &store.LinuxParameters{
					Capabilities:       &store.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
					InitProcessEnabled: ptr(true),
					SharedMemorySize:   ptr(64),
					Tmpfs:              []store.Tmpfs{{ContainerPath: "/run", Size: 16, MountOptions: []string{"noexec"}}},
					Devices:            []store.Device{{HostPath: "/dev/fuse", Permissions: []string{"read", "write"}}},
				},
				RestartPolicy:  &store.RestartPolicy{Enabled: ptr(true), IgnoredExitCodes: []int{0}, RestartAttemptPeriod: ptr(60)},
				SystemControls: []store.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}},
			},
			{Name: "init", Image: "busybox", CPU: 10, Memory: ptr(32), Essential: ptr(false), Command: []string{"true"}},
		},
		Volumes: []store.Volume{
			{Name: "data", Host: &store.HostVolumeProperties{SourcePath: "/srv/data"}},
			{Name: "scratch"},
			{Name: "shared", DockerVolumeConfiguration: &store.DockerVolumeConfiguration{Scope: "shared", Autoprovision: ptr(true),
				Driver: "local", DriverOpts: map[string]string{"type": "tmpfs"}, Labels: map[string]string{"k": "v"}}},
			{Name: "per-task", DockerVolumeConfiguration: &store.DockerVolumeConfiguration{}},
		},
	}
}

var webInput = TaskInput{
	ARN:           "arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef",
	ClusterARN:    "arn:aws:ecs:us-west-2:123456789012:cluster/default",
	DesiredStatus: "RUNNING",
	Group:         "family:web",
	StartedBy:     "me",
}

// roundTrip encodes t as the ACS message would and decodes it as an agent
// would, so the assertions hold for the JSON on the wire.
func roundTrip(t *testing.T, task *wire.Task) map[string]any {
	t.Helper()
	raw, err := json.Marshal(task)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func decodeJSONString(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), s)
	return m
}

func TestTaskTopLevel(t *testing.T) {
	task, err := Task(webDefinition(), webInput)
	require.NoError(t, err)
	m := roundTrip(t, task)
	want := map[string]any{
		"arn":                     webInput.ARN,
		"taskClusterArn":          webInput.ClusterARN,
		"desiredStatus":           "RUNNING",
		"group":                   "family:web",
		"family":                  "web",
		"version":                 "3",
		"networkMode":             "bridge",
		"pidMode":                 "host",
		"cpu":                     0.25,
		"memory":                  1024.0,
		"taskDefinitionAccountId": "123456789012",
		"launchType":              "EC2",
		"overrides":               "{}",
	}
	for k, v := range want {
		assert.Equal(t, v, m[k], k)
	}
	assert.NotContains(t, m, "ipcMode")
	require.Len(t, task.Containers, 2)
	require.Len(t, task.Volumes, 4)
}

func TestTaskContainer(t *testing.T) {
	task, err := Task(webDefinition(), webInput)
	require.NoError(t, err)
	m := roundTrip(t, task)
	app := m["containers"].([]any)[0].(map[string]any)

	assert.Equal(t, "app", app["name"])
	assert.Equal(t, "nginx:1.25", app["image"])
	assert.Equal(t, 256.0, app["cpu"])
	assert.Equal(t, 512.0, app["memory"])
	assert.Equal(t, true, app["essential"])
	assert.Equal(t, []any{"nginx", "-g", "daemon off;"}, app["command"])
	assert.Equal(t, []any{"/docker-entrypoint.sh"}, app["entryPoint"])
	assert.Equal(t, map[string]any{"MODE": "prod", "KEEP": "1"}, app["environment"])
	assert.Equal(t, []any{"init:setup"}, app["links"])
	assert.Equal(t, []any{
		map[string]any{"containerPort": 80.0, "protocol": "tcp"},
		map[string]any{"containerPortRange": "9000-9002", "protocol": "udp"},
	}, app["portMappings"])
	assert.Equal(t, []any{map[string]any{"sourceVolume": "data", "containerPath": "/data", "readOnly": true}}, app["mountPoints"])
	assert.Equal(t, []any{map[string]any{"sourceContainer": "init"}}, app["volumesFrom"])
	assert.Equal(t, []any{map[string]any{"containerName": "init", "condition": "SUCCESS"}}, app["dependsOn"])
	assert.Equal(t, 30.0, app["stopTimeout"])
	assert.Equal(t, 60.0, app["startTimeout"])
	assert.Equal(t, true, app["privileged"])
	assert.Equal(t, "{}", app["overrides"])
	assert.Equal(t, "docker", app["healthCheckType"])
	assert.Equal(t, map[string]any{"enabled": true, "ignoredExitCodes": []any{0.0}, "restartAttemptPeriod": 60.0}, app["restartPolicy"])
	assert.Equal(t, map[string]any{
		"capabilities":       map[string]any{"add": []any{"NET_ADMIN"}, "drop": []any{"MKNOD"}},
		"devices":            []any{map[string]any{"hostPath": "/dev/fuse", "permissions": []any{"read", "write"}}},
		"initProcessEnabled": true,
		"sharedMemorySize":   64.0,
	}, app["linuxParameters"])
	assert.NotContains(t, app, "memoryReservation", "the ACS Container has no such member")
	assert.NotContains(t, app, "healthCheck")

	dc := app["dockerConfig"].(map[string]any)
	assert.Equal(t, "1.25", dc["version"], "init needs Docker API 1.25")

	cfg := decodeJSONString(t, dc["config"].(string))
	assert.Equal(t, map[string]any{
		"Hostname":   "app-host",
		"User":       "1000:1000",
		"WorkingDir": "/srv",
		"Labels":     map[string]any{"team": "a"},
		"Healthcheck": map[string]any{
			"Test":        []any{"CMD-SHELL", "curl -f localhost"},
			"Interval":    10e9,
			"Timeout":     5e9, // the ECS default, not Docker's 30 s
			"StartPeriod": 5e9,
			"Retries":     3.0,
		},
	}, cfg)

	host := decodeJSONString(t, dc["hostConfig"].(string))
	assert.Equal(t, map[string]any{
		"MemoryReservation": 256.0 * (1 << 20),
		"LogConfig":         map[string]any{"Type": "json-file", "Config": map[string]any{"max-size": "10m"}},
		"Ulimits":           []any{map[string]any{"Name": "nofile", "Soft": 1024.0, "Hard": 4096.0}},
		"CapAdd":            []any{"NET_ADMIN"},
		"CapDrop":           []any{"MKNOD"},
		"Init":              true,
		"ShmSize":           64.0 * (1 << 20),
		"Tmpfs":             map[string]any{"/run": "size=16m,noexec"},
		"Devices":           []any{map[string]any{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}},
		"ReadonlyRootfs":    true,
		"Dns":               []any{"1.1.1.1"},
		"DnsSearch":         []any{"example.com"},
		"ExtraHosts":        []any{"db.local:10.0.0.5"},
		"SecurityOpt":       []any{"no-new-privileges"},
		"Privileged":        true,
		"Sysctls":           map[string]any{"net.core.somaxconn": "1024"},
	}, host)
}

func TestTaskMinimalContainer(t *testing.T) {
	task, err := Task(webDefinition(), webInput)
	require.NoError(t, err)
	init := roundTrip(t, task)["containers"].([]any)[1].(map[string]any)
	assert.NotContains(t, init, "essential", "false is left out")
	assert.NotContains(t, init, "healthCheckType")
	assert.NotContains(t, init, "linuxParameters")
	dc := init["dockerConfig"].(map[string]any)
	assert.Equal(t, "1.17", dc["version"])
	assert.Equal(t, "{}", dc["config"], "nothing set: nothing may overwrite the agent's config")
	assert.Equal(t, "{}", dc["hostConfig"])
}

func TestTaskVolumes(t *testing.T) {
	task, err := Task(webDefinition(), webInput)
	require.NoError(t, err)
	vols := roundTrip(t, task)["volumes"].([]any)
	assert.Equal(t, []any{
		map[string]any{"name": "data", "type": "host", "host": map[string]any{"sourcePath": "/srv/data"}},
		map[string]any{"name": "scratch", "type": "host", "host": map[string]any{}},
		map[string]any{"name": "shared", "type": "docker", "dockerVolumeConfiguration": map[string]any{
			"scope": "shared", "autoprovision": true, "driver": "local",
			"driverOpts": map[string]any{"type": "tmpfs"}, "labels": map[string]any{"k": "v"}}},
		map[string]any{"name": "per-task", "type": "docker", "dockerVolumeConfiguration": map[string]any{"scope": "task"}},
	}, vols)
}

func TestTaskOverrides(t *testing.T) {
	def := webDefinition()
	in := webInput
	in.Overrides = json.RawMessage(`{
		"cpu": "512", "memory": "2048",
		"containerOverrides": [
			{"name": "app", "command": ["sh", "-c", "exit 0"],
			 "environment": [{"name": "MODE", "value": "test"}, {"name": "NEW", "value": "x"}],
			 "cpu": 128, "memory": 1024, "memoryReservation": 512},
			{"name": "init", "command": []}
		]}`)
	task, err := Task(def, in)
	require.NoError(t, err)
	m := roundTrip(t, task)
	assert.Equal(t, 0.5, m["cpu"])
	assert.Equal(t, 2048.0, m["memory"])
	assert.Equal(t, "{}", m["overrides"], "applied, so not sent again")

	app := m["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{"sh", "-c", "exit 0"}, app["command"])
	assert.Equal(t, map[string]any{"MODE": "test", "KEEP": "1", "NEW": "x"}, app["environment"])
	assert.Equal(t, 128.0, app["cpu"])
	assert.Equal(t, 1024.0, app["memory"])
	host := decodeJSONString(t, app["dockerConfig"].(map[string]any)["hostConfig"].(string))
	assert.Equal(t, 512.0*(1<<20), host["MemoryReservation"])
	init := m["containers"].([]any)[1].(map[string]any)
	assert.NotContains(t, init, "command", "an empty command override clears the command")

	// The definition itself is untouched.
	assert.Equal(t, "prod", def.ContainerDefinitions[0].Environment[0].Value)
	assert.Equal(t, []string{"nginx", "-g", "daemon off;"}, def.ContainerDefinitions[0].Command)
	assert.Equal(t, 512, *def.ContainerDefinitions[0].Memory)
}

func TestTaskOverrideErrors(t *testing.T) {
	for raw, mentions := range map[string]string{
		`{"containerOverrides":[{"name":"nope"}]}`: `"nope"`,
		`{"containerOverrides":`:                   "TaskOverride JSON",
		`{"cpu":"lots"}`:                           `overrides.cpu "lots"`,
		`{"memory":"-1"}`:                          `overrides.memory "-1"`,
		`{"containerOverrides":[{"name":"app","memoryReservation":4096}]}`:      "memoryReservation",
		`{"containerOverrides":[{"name":"app","environment":[{"value":"x"}]}]}`: "environment",
		`{"containerOverrides":[{"name":"app","cpu":-5}]}`:                      "cpu",
		// Never dropped: members ECS has but this control plane does not
		// apply, and members ECS does not have.
		`{"ephemeralStorage":{"sizeInGiB":30}}`:                                                                 "overrides.ephemeralStorage is not supported",
		`{"inferenceAcceleratorOverrides":[{"deviceName":"d"}]}`:                                                "overrides.inferenceAcceleratorOverrides is not supported",
		`{"containerOverrides":[{"name":"app","environmentFiles":[{"type":"s3","value":"arn:aws:s3:::b/f"}]}]}`: "overrides.containerOverrides[app].environmentFiles is not supported",
		`{"containerOverrides":[{"name":"app","resourceRequirements":[{"type":"GPU","value":"1"}]}]}`:           "overrides.containerOverrides[app].resourceRequirements is not supported",
		`{"containerOverrides":[{"name":"app","secrets":[]}]}`:                                                  `unknown field "secrets"`,
		`{"taskRole":"arn:aws:iam::1:role/x"}`:                                                                  `unknown field "taskRole"`,
		// Docker refuses less than 6 MiB.
		`{"containerOverrides":[{"name":"app","memory":4}]}`:            "overrides.containerOverrides[app].memory must be at least 6 MiB",
		`{"containerOverrides":[{"name":"app","memoryReservation":5}]}`: "memoryReservation must be at least 6 MiB",
	} {
		in := webInput
		in.Overrides = json.RawMessage(raw)
		_, err := Task(webDefinition(), in)
		require.Error(t, err, raw)
		assert.True(t, errors.Is(err, ErrInvalidOverride), "%s: %v", raw, err)
		assert.Contains(t, err.Error(), mentions)
	}
	for _, raw := range []string{"", "null", "{}", `{"ephemeralStorage":null,"containerOverrides":[{"name":"app","environmentFiles":[]}]}`} {
		in := webInput
		in.Overrides = json.RawMessage(raw)
		_, err := Task(webDefinition(), in)
		assert.NoError(t, err, "no overrides: %q", raw)
	}
}

func TestParseSizes(t *testing.T) {
	for s, want := range map[string]int{"": 0, "1024": 1024, "1 vCPU": 1024, "0.25 vcpu": 256, "2vCPU": 2048, " 512 ": 512} {
		got, err := ParseCPU(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for s, want := range map[string]int{"": 0, "512": 512, "0.5 GB": 512, "1GB": 1024, "2 gb": 2048, "300 MiB": 300, "300MB": 300} {
		got, err := ParseMemory(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"x", "-1", "0", "1.5", "vCPU", "1e99 vCPU", "NaN vCPU"} {
		_, err := ParseCPU(s)
		assert.ErrorIs(t, err, ErrInvalidSize, s)
	}
	for _, s := range []string{"1 TB", "0 GB", "GB"} {
		_, err := ParseMemory(s)
		assert.ErrorIs(t, err, ErrInvalidSize, s)
	}
}

// FuzzParseSizes checks that no input panics and that what parses is a
// positive size.
func FuzzParseSizes(f *testing.F) {
	for _, s := range []string{"1024", "1 vCPU", "0.5 GB", "512", "NaN gb", "-0 vcpu", "1e9 GB", " 2 MiB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (int, error){ParseCPU, ParseMemory} {
			n, err := parse(s)
			if err == nil && s != "" && n <= 0 && strings.TrimSpace(s) != "" {
				t.Errorf("%q parsed as %d", s, n)
			}
		}
	})
}

func TestTaskRestartPolicyDefault(t *testing.T) {
	def := webDefinition()
	def.ContainerDefinitions[1].RestartPolicy = &store.RestartPolicy{Enabled: ptr(true)}
	task, err := Task(def, webInput)
	require.NoError(t, err)
	require.NotNil(t, task.Containers[1].RestartPolicy)
	assert.Equal(t, wire.RestartPolicy{Enabled: true, RestartAttemptPeriod: 300}, *task.Containers[1].RestartPolicy,
		"the ECS default period is sent explicitly")
}

// TestTaskCarriesGatedFeatures: what only an agent that implements it can
// honour travels in the ACS members that carry it, so an agent without the
// feature refuses the task by name instead of running it without.
func TestTaskCarriesGatedFeatures(t *testing.T) {
	def := webDefinition()
	def.TaskRoleARN = "arn:aws:iam::123456789012:role/app"
	app := &def.ContainerDefinitions[0]
	app.Secrets = []store.Secret{
		{Name: "DB", ValueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCd"},
		{Name: "TOKEN", ValueFrom: "/app/token"},
	}
	app.LogConfiguration = &store.LogConfiguration{LogDriver: "splunk",
		SecretOptions: []store.Secret{{Name: "splunk-token", ValueFrom: "arn:aws:ssm:us-west-2:123456789012:parameter/splunk"}}}
	app.RepositoryCredentials = &store.RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-west-2:123456789012:secret:reg"}
	def.Volumes = append(def.Volumes,
		store.Volume{Name: "efs", EFSVolumeConfiguration: &store.EFSVolumeConfiguration{FileSystemID: "fs-1", RootDirectory: "/app",
			TransitEncryption: "ENABLED", TransitEncryptionPort: ptr(2049), AuthorizationConfig: &store.EFSAuthorizationConfig{AccessPointID: "fsap-1", IAM: "ENABLED"}}},
		store.Volume{Name: "fsx", FSxWindowsFileServerVolumeConfiguration: &store.FSxWindowsFileServerVolumeConfiguration{FileSystemID: "fs-2",
			RootDirectory: `\\share`, AuthorizationConfig: &store.FSxWindowsFileServerAuthorizationConfig{CredentialsParameter: "arn:c", Domain: "corp"}}})

	task, err := Task(def, webInput)
	require.NoError(t, err)
	assert.Equal(t, &wire.IAMRoleCredentials{RoleARN: "arn:aws:iam::123456789012:role/app"}, task.RoleCredentials,
		"the role, without credentials: the control plane issues none")
	c := task.Containers[0]
	assert.Equal(t, []wire.Secret{
		{Name: "DB", ValueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCd", Type: "ENVIRONMENT_VARIABLE", Provider: "asm", Target: "CONTAINER", Region: "eu-west-1"},
		{Name: "TOKEN", ValueFrom: "/app/token", Type: "ENVIRONMENT_VARIABLE", Provider: "ssm", Target: "CONTAINER"},
		{Name: "splunk-token", ValueFrom: "arn:aws:ssm:us-west-2:123456789012:parameter/splunk", Type: "ENVIRONMENT_VARIABLE", Provider: "ssm", Target: "LOG_DRIVER", Region: "us-west-2"},
	}, c.Secrets)
	assert.Equal(t, &wire.RegistryAuthenticationData{Type: "asm", ASMAuthData: &wire.ASMAuthData{
		CredentialsParameter: "arn:aws:secretsmanager:us-west-2:123456789012:secret:reg", Region: "us-west-2"}}, c.RegistryAuthentication)
	n := len(task.Volumes)
	assert.Equal(t, wire.Volume{Name: "efs", Type: "efs", EFSVolumeConfiguration: &wire.EFSVolumeConfiguration{FileSystemID: "fs-1", RootDirectory: "/app",
		TransitEncryption: "ENABLED", TransitEncryptionPort: 2049, AuthorizationConfig: &wire.EFSAuthorizationConfig{AccessPointID: "fsap-1", IAM: "ENABLED"}}},
		task.Volumes[n-2])
	assert.Equal(t, wire.Volume{Name: "fsx", Type: "fsxWindowsFileServer", FsxWindowsFileServerVolumeConfiguration: &wire.FSxWindowsFileServerVolumeConfiguration{
		FileSystemID: "fs-2", RootDirectory: `\\share`, AuthorizationConfig: &wire.FSxWindowsFileServerAuthorizationConfig{CredentialsParameter: "arn:c", Domain: "corp"}}},
		task.Volumes[n-1])

	// A GPU cannot be assigned here; placement never gets one this far.
	app.ResourceRequirements = []store.ResourceRequirement{{Type: "GPU", Value: "2"}}
	_, err = Task(def, webInput)
	assert.ErrorContains(t, err, "container app needs 2 GPU(s), which this control plane cannot assign")
}

// Issued credentials travel as they are; without them a role still tells
// the agent the task has one, so that it refuses rather than run it with
// the instance's credentials.
func TestRoleCredentialsTravelAsIssued(t *testing.T) {
	def := webDefinition()
	def.TaskRoleARN, def.ExecutionRoleARN = "arn:aws:iam::123456789012:role/app", "arn:aws:iam::123456789012:role/exec"
	in := webInput
	in.RoleCredentials = &wire.IAMRoleCredentials{CredentialsID: "c1", RoleARN: def.TaskRoleARN, AccessKeyID: "ASIA1",
		SecretAccessKey: "s", SessionToken: "t", Expiration: "2030-01-01T00:00:00Z"}
	in.ExecutionRoleCredentials = &wire.IAMRoleCredentials{CredentialsID: "c2", RoleARN: def.ExecutionRoleARN, AccessKeyID: "ASIA2",
		SecretAccessKey: "s2", Expiration: "2030-01-01T00:00:00Z"}
	task, err := Task(def, in)
	require.NoError(t, err)
	assert.Equal(t, in.RoleCredentials, task.RoleCredentials)
	assert.Equal(t, in.ExecutionRoleCredentials, task.ExecutionRoleCredentials)

	task, err = Task(def, webInput)
	require.NoError(t, err)
	assert.Equal(t, &wire.IAMRoleCredentials{RoleARN: def.TaskRoleARN}, task.RoleCredentials)
	assert.Nil(t, task.ExecutionRoleCredentials, "nothing uses an execution role without credentials")
}
