package config

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture writes the given ecs.config and JSON file (when non-empty) into a
// temporary directory and loads them with env. The JSON path is always set,
// so the host's /etc files never leak into a test.
type fixture struct {
	file, json string
	env        []string
}

func (f fixture) paths(t *testing.T) (kvPath, jsonPath string) {
	t.Helper()
	dir := t.TempDir()
	kvPath = filepath.Join(dir, "ecs.config")
	jsonPath = filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(kvPath, []byte(f.file), 0o600))
	require.NoError(t, os.WriteFile(jsonPath, []byte(f.json), 0o600))
	return kvPath, jsonPath
}

func (f fixture) load(t *testing.T) (*Config, []Warning, string, string, error) {
	t.Helper()
	kvPath, jsonPath := f.paths(t)
	env := append([]string{"ECS_AGENT_CONFIG_FILE_PATH=" + jsonPath}, f.env...)
	c, w, err := Load(LoadOptions{ConfigFile: kvPath, Environ: env})
	return c, w, kvPath, jsonPath, err
}

func mustLoad(t *testing.T, f fixture) (*Config, []Warning, string, string) {
	t.Helper()
	c, w, kv, js, err := f.load(t)
	require.NoError(t, err)
	return c, w, kv, js
}

func TestPrecedence(t *testing.T) {
	const js = `{"Cluster": "from-json", "ReservedMemory": 1}`
	tests := []struct {
		name      string
		f         fixture
		want      string
		wantSrc   func(kv, js string) string
		wantMemMB uint16
	}{
		{"default", fixture{}, "default", func(string, string) string { return SourceDefault }, 0},
		{"json", fixture{json: js}, "from-json", func(_, js string) string { return js }, 1},
		{"file over json", fixture{json: js, file: "\nECS_CLUSTER=from-file\n"}, "from-file", func(kv, _ string) string { return kv + ":2" }, 1},
		{"env over file", fixture{json: js, file: "ECS_CLUSTER=from-file\n", env: []string{"ECS_CLUSTER=from-env"}}, "from-env",
			func(string, string) string { return SourceEnvironment }, 1},
		{"empty env value means unset", fixture{file: "ECS_CLUSTER=from-file\n", env: []string{"ECS_CLUSTER="}}, "from-file",
			func(kv, _ string) string { return kv + ":1" }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, kv, jsPath := mustLoad(t, tt.f)
			assert.Equal(t, tt.want, c.Cluster)
			assert.Equal(t, tt.wantSrc(kv, jsPath), c.Source("ECS_CLUSTER"))
			assert.Equal(t, tt.wantMemMB, c.ReservedMemory)
		})
	}
}

func TestJSONPathFromFile(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "agent.json")
	require.NoError(t, os.WriteFile(js, []byte(`{"cluster":"j","ClusterArn":"ignored","TaskCleanupWaitDuration":7200000000000,"ImagePullTimeout":"90m"}`), 0o600))
	kv := filepath.Join(dir, "ecs.config")
	require.NoError(t, os.WriteFile(kv, []byte("ECS_AGENT_CONFIG_FILE_PATH="+js+"\n"), 0o600))
	c, _, err := Load(LoadOptions{ConfigFile: kv, Environ: []string{}})
	require.NoError(t, err)
	assert.Equal(t, "j", c.Cluster, "JSON keys match field names case-insensitively; Cluster beats ClusterArn")
	assert.Equal(t, 2*time.Hour, c.TaskCleanupWaitDuration, "integer nanoseconds")
	assert.Equal(t, 90*time.Minute, c.ImagePullTimeout, "duration strings too")
}

func TestJSONClusterArnAlias(t *testing.T) {
	c, _, _, _ := mustLoad(t, fixture{json: `{"ClusterArn":"old"}`})
	assert.Equal(t, "old", c.Cluster)
}

// JSON strings follow the text sources' rules: surrounding space is not
// part of the value and an empty value means "not set", so that every
// configuration Print writes loads back the same.
func TestJSONStringsTrimmedAndEmptyUnset(t *testing.T) {
	c, _, _, js := mustLoad(t, fixture{json: `{"DataDir": " /srv/ecs ", "Cluster": "", "LogLevel": "  ", "ImagePullBehavior": " once"}`})
	assert.Equal(t, "/srv/ecs", c.DataDir)
	assert.Equal(t, js, c.Source("ECS_DATADIR"))
	assert.Equal(t, "default", c.Cluster)
	assert.Equal(t, SourceDefault, c.Source("ECS_CLUSTER"))
	assert.Equal(t, Default().LogLevel, c.LogLevel)
	assert.Equal(t, SourceDefault, c.Source("ECS_LOGLEVEL"))
	assert.Equal(t, "once", c.ImagePullBehavior)
}

// A value with a line break is refused naming the setting: none takes
// one, and Print could not write it back.
func TestLineBreakInValueRefused(t *testing.T) {
	_, _, _, js, err := fixture{json: `{"DataDir": "/var/lib\necs"}`}.load(t)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "ECS_DATADIR", cerr.Key)
	assert.Equal(t, js, cerr.Source)
	assert.Contains(t, err.Error(), `"/var/lib\necs"`)
	assert.Contains(t, err.Error(), "on one line")

	_, _, _, _, err = fixture{env: []string{"ECS_CLUSTER=prod\nstaging"}}.load(t)
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "ECS_CLUSTER", cerr.Key)
	assert.Equal(t, SourceEnvironment, cerr.Source)

	// A list in JSON text may span lines: it is printed on one.
	c, _, _, _ := mustLoad(t, fixture{env: []string{"ECS_RESERVED_PORTS=[22,\n 2375]"}})
	assert.Equal(t, []uint16{22, 2375}, c.ReservedPorts)
}

func TestJSONEdgeCases(t *testing.T) {
	c, w, _, js := mustLoad(t, fixture{json: `{"Bogus": 1, "AgentConfigFilePath": "/x", "Cluster": null, "TaskMetadataBurstRate": 99}`})
	assert.Equal(t, "default", c.Cluster, "null means unset")
	assert.Equal(t, 40, c.TaskMetadataSteadyStateRate)
	assert.Equal(t, 99, c.TaskMetadataBurstRate)
	assert.Contains(t, w, Warning{Key: "Bogus", Source: js, Message: msgUnknownJSON})
	assert.Contains(t, w, Warning{Key: "AgentConfigFilePath", Source: js, Message: msgJSONIgnoredFP})

	_, _, err := fixture{json: "   \n"}.load2(t)
	require.NoError(t, err, "an empty JSON file is not an error")
	_, _, err = fixture{json: "{nope"}.load2(t)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "config.json")
}

func (f fixture) load2(t *testing.T) (*Config, []Warning, error) {
	c, w, _, _, err := f.load(t)
	return c, w, err
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(LoadOptions{ConfigFile: filepath.Join(dir, "nope"), Environ: []string{}})
	require.ErrorIs(t, err, fs.ErrNotExist, "an explicit file must exist")
	var ce *Error
	require.ErrorAs(t, err, &ce)

	// A missing JSON file is fine, but named explicitly it earns a warning.
	kv := filepath.Join(dir, "ecs.config")
	require.NoError(t, os.WriteFile(kv, nil, 0o600))
	_, w, err := Load(LoadOptions{ConfigFile: kv, Environ: []string{"ECS_AGENT_CONFIG_FILE_PATH=" + filepath.Join(dir, "none.json")}})
	require.NoError(t, err)
	assert.Contains(t, w, Warning{Key: "ECS_AGENT_CONFIG_FILE_PATH", Source: filepath.Join(dir, "none.json"), Message: msgJSONMissing})
}

func TestParsesEveryKind(t *testing.T) {
	c, _, _, _ := mustLoad(t, fixture{file: strings.Join([]string{
		`ECS_RESERVED_PORTS=[22, 2375]`,
		`ECS_RESERVED_PORTS_UDP=[53]`,
		`ECS_RESERVED_MEMORY=256`,
		`ECS_INSTANCE_ATTRIBUTES={"stack": "prod"}`,
		`ECS_CONTAINER_INSTANCE_TAGS='{"team":"infra"}'`,
		`ECS_CHECKPOINT=true`,
		`ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1h30m`,
		`ECS_LOG_MAX_FILE_SIZE_MB=0.5`,
		`ECS_LOGLEVEL=DEBUG`,
		`ECS_EXCLUDE_UNTRACKED_IMAGE=a:1, b:2`,
		`ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","awslogs"]`,
		`ECS_TASK_METADATA_RPS_LIMIT=100,150`,
		`ECS_DYNAMIC_HOST_PORT_RANGE=40000-50000`,
		`ECS_BACKEND_HOST=ecs.eu-west-1.amazonaws.com`,
		`AWS_DEFAULT_REGION=eu-west-1`,
		`DOCKER_HOST=tcp://127.0.0.1:2375`,
		`ECS_INTROSPECTION_ADDR=:51678`,
	}, "\n")})
	assert.Equal(t, []uint16{22, 2375}, c.ReservedPorts)
	assert.Equal(t, []uint16{53}, c.ReservedPortsUDP)
	assert.Equal(t, uint16(256), c.ReservedMemory)
	assert.Equal(t, map[string]string{"stack": "prod"}, c.InstanceAttributes)
	assert.Equal(t, map[string]string{"team": "infra"}, c.ContainerInstanceTags)
	assert.True(t, c.Checkpoint)
	assert.Equal(t, 90*time.Minute, c.TaskCleanupWaitDuration)
	assert.Equal(t, 0.5, c.LogMaxFileSizeMB)
	assert.Equal(t, "debug", c.LogLevel)
	assert.Equal(t, []string{"a:1", "b:2"}, c.ImageCleanupExclusionList)
	assert.Equal(t, []string{"json-file", "awslogs"}, c.AvailableLoggingDrivers)
	assert.Equal(t, 100, c.TaskMetadataSteadyStateRate)
	assert.Equal(t, 150, c.TaskMetadataBurstRate)
	assert.Equal(t, "40000-50000", c.DynamicHostPortRange)
	assert.Equal(t, "https://ecs.eu-west-1.amazonaws.com", c.APIEndpoint)
	assert.Equal(t, "eu-west-1", c.AWSRegion)
	assert.Equal(t, "tcp://127.0.0.1:2375", c.DockerEndpoint)
	assert.Equal(t, ":51678", c.IntrospectionAddr)
}

func TestRegionAliases(t *testing.T) {
	c, _, _, _ := mustLoad(t, fixture{env: []string{"AWS_REGION=us-west-2"}})
	assert.Equal(t, "us-west-2", c.AWSRegion)
	assert.Equal(t, SourceEnvironment, c.Source("AWS_DEFAULT_REGION"))
	c, _, _, _ = mustLoad(t, fixture{env: []string{"AWS_REGION=us-west-2", "AWS_DEFAULT_REGION=eu-central-1"}})
	assert.Equal(t, "eu-central-1", c.AWSRegion, "AWS_DEFAULT_REGION wins within one source")
	c, _, _, _ = mustLoad(t, fixture{file: "AWS_DEFAULT_REGION=eu-central-1\n", env: []string{"AWS_REGION=us-west-2"}})
	assert.Equal(t, "us-west-2", c.AWSRegion, "the environment wins over the file")
}

func TestDerivedDefaults(t *testing.T) {
	c, _, _, _ := mustLoad(t, fixture{env: []string{"ECS_DATADIR=/var/lib/ecs/data"}})
	assert.True(t, c.Checkpoint, "ECS_DATADIR turns checkpointing on")
	assert.Contains(t, c.Source("ECS_CHECKPOINT"), "ECS_DATADIR")
	c, _, _, _ = mustLoad(t, fixture{env: []string{"ECS_DATADIR=/d", "ECS_CHECKPOINT=false"}})
	assert.False(t, c.Checkpoint, "an explicit ECS_CHECKPOINT wins")

	c, _, _, _ = mustLoad(t, fixture{env: []string{"ECS_ENABLE_PROMETHEUS_METRICS=true"}})
	assert.Equal(t, []uint16{22, 2375, 2376, 51678, 51679, 51680}, c.ReservedPorts)
	c, _, _, _ = mustLoad(t, fixture{env: []string{"ECS_ENABLE_PROMETHEUS_METRICS=true", "ECS_RESERVED_PORTS=[22]"}})
	assert.Equal(t, []uint16{22}, c.ReservedPorts)
}

func TestAdjustedValuesWarn(t *testing.T) {
	c, w, kv, _ := mustLoad(t, fixture{file: "ECS_IMAGE_CLEANUP_INTERVAL=5m\nECS_POLLING_METRICS_WAIT_DURATION=1m\nECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10ms\n"})
	assert.Equal(t, 30*time.Minute, c.ImageCleanupInterval)
	assert.Equal(t, 20*time.Second, c.PollingMetricsWaitDuration)
	assert.Equal(t, 3*time.Hour, c.TaskCleanupWaitDuration)
	assert.Contains(t, w, Warning{Key: "ECS_IMAGE_CLEANUP_INTERVAL", Source: kv + ":1", Message: "5m is below the minimum 10m; using 30m"})
	assert.Contains(t, w, Warning{Key: "ECS_POLLING_METRICS_WAIT_DURATION", Source: kv + ":2", Message: "1m is above the maximum; using 20s"})
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		key, value, expected string
	}{
		{"ECS_RESERVED_MEMORY", "abc", "an integer number of MiB between 0 and 65535"},
		{"ECS_RESERVED_MEMORY", "70000", "an integer number of MiB between 0 and 65535"},
		{"ECS_RESERVED_MEMORY", "-1", "an integer number of MiB between 0 and 65535"},
		{"ECS_RESERVED_PORTS", "22,80", "a JSON array of port numbers between 1 and 65535, like [22, 2375]"},
		{"ECS_RESERVED_PORTS", "[0]", "a JSON array of port numbers between 1 and 65535, like [22, 2375]"},
		{"ECS_RESERVED_PORTS_UDP", "[70000]", "a JSON array of port numbers between 1 and 65535, like [22, 2375]"},
		{"ECS_CHECKPOINT", "yes", "true or false"},
		{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3 hours", "a duration such as 30s, 5m or 3h"},
		{"ECS_IMAGE_PULL_TIMEOUT", "-5m", "a duration such as 30s, 5m or 3h"},
		{"ECS_LOGLEVEL", "verbose", "debug, info, warn, error or crit"},
		{"ECS_LOG_ROLLOVER_TYPE", "daily", "size or hourly"},
		{"ECS_LOG_OUTPUT_FORMAT", "xml", "logfmt or json"},
		{"ECS_LOG_MAX_FILE_SIZE_MB", "0", "a positive number of MiB"},
		{"ECS_LOG_MAX_ROLL_COUNT", "0", "an integer between 1 and 100000"},
		{"ECS_INSTANCE_ATTRIBUTES", "a=b", `a JSON object of string keys and string values, like {"key": "value"}`},
		{"ECS_CONTAINER_INSTANCE_TAGS", `{"n": 1}`, `a JSON object of string keys and string values, like {"key": "value"}`},
		{"ECS_INTROSPECTION_ADDR", "51678", "host:port, like 127.0.0.1:51678"},
		{"ECS_INTROSPECTION_ADDR", "localhost:http", "host:port, like 127.0.0.1:51678"},
		{"DOCKER_HOST", "/var/run/docker.sock", "a Docker endpoint URL, like unix:///var/run/docker.sock or tcp://127.0.0.1:2375"},
		{"ECS_BACKEND_HOST", "ftp://x", "a host name or an http(s) URL, like ecs.us-east-1.amazonaws.com or http://127.0.0.1:51677"},
		{"ECS_AVAILABLE_LOGGING_DRIVERS", `["json-file","loki"]`, "a JSON array whose elements are json-file, syslog, journald, gelf, fluentd, awslogs, splunk, logentries, sumologic, none or awsfirelens"},
		{"ECS_TASK_METADATA_RPS_LIMIT", "40", "two positive integers rate,burst, like 40,60"},
		{"ECS_DYNAMIC_HOST_PORT_RANGE", "50000-40000", "a port range start-end, like 49153-65535"},
		{"ECS_IMAGE_PULL_BEHAVIOR", "never", "default, always, once or prefer-cached"},
		{"ECS_NUM_IMAGES_DELETE_PER_CYCLE", "0", "an integer between 1 and 1000000"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			file := strings.Repeat("# padding\n", 6) + tt.key + "=" + tt.value + "\n"
			_, _, kv, _, err := fixture{file: file}.load(t)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, &Error{Key: tt.key, Source: kv + ":7", Value: tt.value, Expected: tt.expected}, ce)

			// The same value from the environment names the environment.
			_, _, _, _, err = fixture{env: []string{tt.key + "=" + tt.value}}.load(t)
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, SourceEnvironment, ce.Source)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	err := &Error{Key: "ECS_RESERVED_MEMORY", Source: "/etc/ecs/ecs.config:7", Value: "abc", Expected: "an integer number of MiB between 0 and 65535"}
	assert.Equal(t, "ECS_RESERVED_MEMORY=abc (/etc/ecs/ecs.config:7): expected an integer number of MiB between 0 and 65535", err.Error())
}

func TestBadJSONValueNamesTheFile(t *testing.T) {
	_, _, _, js, err := fixture{json: `{"ReservedMemory": "lots"}`}.load(t)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ECS_RESERVED_MEMORY", ce.Key)
	assert.Equal(t, js, ce.Source)
	assert.Equal(t, `"lots"`, ce.Value)
	assert.Contains(t, ce.Expected, "ReservedMemory")
}

func TestCrossFieldRules(t *testing.T) {
	_, _, _, _, err := fixture{env: []string{`ECS_ENGINE_AUTH_DATA={"r":{"auth":"c2VjcmV0"}}`}}.load(t)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ECS_ENGINE_AUTH_TYPE", ce.Key)
	assert.NotContains(t, err.Error(), "c2VjcmV0")

	_, _, _, _, err = fixture{env: []string{`ECS_ENGINE_AUTH_TYPE=dockercfg`, `ECS_ENGINE_AUTH_DATA={"r":"c2VjcmV0"}`}}.load(t)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ECS_ENGINE_AUTH_DATA", ce.Key)
	assert.NotContains(t, err.Error(), "c2VjcmV0")

	_, _, _, _, err = fixture{env: []string{"ECS_EXTERNAL=true"}}.load(t)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "AWS_DEFAULT_REGION", ce.Key)
	_, _, _, _, err = fixture{env: []string{"ECS_EXTERNAL=true", "AWS_DEFAULT_REGION=us-east-1"}}.load(t)
	require.NoError(t, err)

	_, w, _, _, err := fixture{env: []string{"ECS_ENGINE_AUTH_TYPE=docker"}}.load(t)
	require.NoError(t, err)
	assert.Contains(t, warningKeys(w), "ECS_ENGINE_AUTH_TYPE")
}

func TestWarnings(t *testing.T) {
	file := strings.Join([]string{
		"ECS_CLUSTER=prod",                           // 1 supported: no warning
		"ECS_NOT_A_THING=1",                          // 2 unknown
		"ECS_ENABLE_TASK_ENI=true",                   // 3 awsvpc only
		"ECS_LOG_DRIVER=json-file",                   // 4 ecs-init only
		"ECS_ENABLE_GPU_SUPPORT=false",               // 5 not yet supported, even when set to the default
		"AWS_SECRET_ACCESS_KEY=abc",                  // 6 credentials belong in the environment
		"HTTP_PROXY=http://proxy:3128",               // 7 not ours: ignored silently
		"ECS_CONTAINER_METADATA_URI=x",               // 8 injected into tasks: ignored silently
		"ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT=true", // 9 not yet supported
	}, "\n")
	_, w, kv, _ := mustLoad(t, fixture{file: file, env: []string{"ECS_TYPO=1", "AWS_SECRET_ACCESS_KEY=fine-here", "PATH=/bin"}})
	at := func(n string) string { return kv + ":" + n }
	want := []Warning{
		{Key: "ECS_NOT_A_THING", Source: at("2"), Message: msgUnknown},
		{Key: "ECS_ENABLE_TASK_ENI", Source: at("3"), Message: msgAWSVPC},
		{Key: "ECS_LOG_DRIVER", Source: at("4"), Message: msgECSInit},
		{Key: "ECS_ENABLE_GPU_SUPPORT", Source: at("5"), Message: msgUnsupported},
		{Key: "AWS_SECRET_ACCESS_KEY", Source: at("6"), Message: msgCredentials},
		{Key: "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", Source: at("9"), Message: msgUnsupported},
		{Key: "ECS_TYPO", Source: SourceEnvironment, Message: msgUnknown},
	}
	assert.ElementsMatch(t, want, w)
	for _, x := range w {
		assert.NotContains(t, x.String(), "abc")
	}

	// Defaults alone produce no warnings.
	_, w, _, _ = mustLoad(t, fixture{})
	assert.Empty(t, w)
}

func warningKeys(ws []Warning) []string {
	var keys []string
	for _, w := range ws {
		keys = append(keys, w.Key)
	}
	return keys
}

func TestSecretsRedacted(t *testing.T) {
	const secret = `{"https://index.docker.io/v1/":{"username":"u","password":"hunter2","email":"e"}}`
	c, _, _, _ := mustLoad(t, fixture{file: "ECS_ENGINE_AUTH_TYPE=docker\nECS_ENGINE_AUTH_DATA=" + secret + "\n"})
	assert.Equal(t, secret, c.EngineAuthData.Value())

	var buf bytes.Buffer
	c.Print(&buf)
	assert.Contains(t, buf.String(), "ECS_ENGINE_AUTH_DATA=<redacted>  # ")
	assert.NotContains(t, buf.String(), "hunter2")

	// Formatting the whole Config does not leak it either.
	for _, s := range []string{
		strings.Join([]string{c.EngineAuthData.String()}, ""),
		sprintf("%v", c), sprintf("%+v", c), sprintf("%#v", c), sprintf("%s", c.EngineAuthData),
	} {
		assert.NotContains(t, s, "hunter2")
	}
	b, err := jsonMarshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "hunter2")

	// A bad secret value is not echoed.
	_, _, _, _, err = fixture{file: "ECS_ENGINE_AUTH_DATA=hunter2-not-json\n"}.load(t)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, err.Error(), "ECS_ENGINE_AUTH_DATA=<redacted>")

	// From the JSON file, as an embedded object.
	c, _, _, js := mustLoad(t, fixture{json: `{"EngineAuthType":"docker","EngineAuthData":` + secret + `}`})
	assert.JSONEq(t, secret, c.EngineAuthData.Value())
	assert.Equal(t, js, c.Source("ECS_ENGINE_AUTH_DATA"))
}

func TestPrintRoundTrip(t *testing.T) {
	c, _, kv, _ := mustLoad(t, fixture{file: strings.Join([]string{
		"ECS_CLUSTER=a #b",
		`ECS_INSTANCE_ATTRIBUTES={"k": "v w"}`,
		"ECS_RESERVED_MEMORY=12",
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=90m",
		"ECS_CONTAINER_INSTANCE_TAGS='{\"team\":\"x #y\"}'",
	}, "\n")})
	assert.Equal(t, "a", c.Cluster)

	var buf bytes.Buffer
	c.Print(&buf)
	out := buf.String()
	assert.Contains(t, out, "ECS_CLUSTER=a  # "+kv+":1\n")
	assert.Contains(t, out, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1h30m  # "+kv+":4\n")
	assert.Contains(t, out, "DOCKER_HOST=unix:///var/run/docker.sock  # default\n")
	assert.Equal(t, len(settings), strings.Count(out, "\n"), "one line per setting")

	// The output reads back as the same configuration.
	dir := t.TempDir()
	printed := filepath.Join(dir, "printed.config")
	require.NoError(t, os.WriteFile(printed, buf.Bytes(), 0o600))
	again, _, err := Load(LoadOptions{ConfigFile: printed, Environ: []string{}})
	require.NoError(t, err)
	again.sources, c.sources = nil, nil
	assert.Equal(t, c, again)
}

func TestEngineAuthDataShape(t *testing.T) {
	const pass = "hunter2"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, typ, data, wantErr string
	}{
		{"docker ok", "docker", `{"https://index.docker.io/v1/":{"username":"u","password":"` + pass + `","email":"e"}}`, ""},
		{"docker without password", "docker", `{"reg.example:5000":{"username":"u"}}`, `"reg.example:5000"`},
		{"docker entry not an object", "docker", `{"reg":"` + pass + `"}`, `"reg"`},
		{"docker given dockercfg data", "docker", `{"reg":{"auth":"` + b64("u:"+pass) + `"}}`, `"username" and "password"`},
		{"dockercfg ok", "dockercfg", `{"reg":{"auth":"` + b64("u:"+pass) + `","email":"e"}}`, ""},
		{"dockercfg not base64", "dockercfg", `{"reg":{"auth":"%%` + pass + `"}}`, `"auth"`},
		{"dockercfg without colon", "dockercfg", `{"reg":{"auth":"` + b64(pass) + `"}}`, "user:password"},
		{"dockercfg given docker data", "dockercfg", `{"reg":{"username":"u","password":"` + pass + `"}}`, `"auth"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _, _, err := fixture{env: []string{"ECS_ENGINE_AUTH_TYPE=" + tc.typ, "ECS_ENGINE_AUTH_DATA=" + tc.data}}.load(t)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.data, c.EngineAuthData.Value())
				return
			}
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "ECS_ENGINE_AUTH_DATA", ce.Key)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.NotContains(t, err.Error(), pass)
			assert.NotContains(t, err.Error(), b64("u:"+pass))
		})
	}
}

func TestMaxConcurrentStarts(t *testing.T) {
	c, _, _, _ := mustLoad(t, fixture{env: []string{"ECS_MAX_CONCURRENT_STARTS=3"}})
	assert.Equal(t, 3, c.MaxConcurrentStarts)
	assert.GreaterOrEqual(t, Default().MaxConcurrentStarts, 4)

	_, _, _, _, err := fixture{env: []string{"ECS_MAX_CONCURRENT_STARTS=0"}}.load(t)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ECS_MAX_CONCURRENT_STARTS", ce.Key)
}

func TestMaxConcurrentStartsFromJSON(t *testing.T) {
	c, _, _, js := mustLoad(t, fixture{json: `{"MaxConcurrentStarts": 2}`})
	assert.Equal(t, 2, c.MaxConcurrentStarts)
	assert.Equal(t, js, c.Source("ECS_MAX_CONCURRENT_STARTS"))
}

// TestNoConfigFileReadsOnlyTheEnvironment: "-config none" (how ecs-init runs
// the agent, with ecs.config already in the environment) reads no file, not
// even the default one, and refuses nothing.
func TestNoConfigFileReadsOnlyTheEnvironment(t *testing.T) {
	c, warnings, err := Load(LoadOptions{ConfigFile: NoConfigFile, Environ: []string{"ECS_CLUSTER=from-env"}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Cluster != "from-env" {
		t.Errorf("Cluster = %q, want the environment's", c.Cluster)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %v, want none", warnings)
	}
}
