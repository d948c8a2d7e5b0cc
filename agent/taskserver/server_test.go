package taskserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/internal/testutil"
)

const (
	arnA     = "arn:aws:ecs:us-east-1:000000000000:task/c1/aaaa"
	arnB     = "arn:aws:ecs:us-east-1:000000000000:task/c1/bbbb"
	ipA      = "172.17.0.2"
	ipB      = "172.17.0.3"
	secretA  = "secret-of-task-a"
	tokenA   = "token-of-task-a"
	instance = "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/ci"
)

type fakeTasks struct{ tasks []engine.TaskSnapshot }

func (f *fakeTasks) Snapshot() []engine.TaskSnapshot { return f.tasks }

type fakeStats map[string]json.RawMessage

func (f fakeStats) LatestStats(id string) (json.RawMessage, bool) {
	raw, ok := f[id]
	return raw, ok
}

type fakeTags struct {
	tags map[string]map[string]string
	err  error
}

func (f fakeTags) ListTags(_ context.Context, arn string) (map[string]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.tags[arn], nil
}

func started() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// twoTasks: A (bridge, a task role, two containers, task limits) and B
// (bridge, its own role, one container).
func twoTasks() *fakeTasks {
	code := 0
	return &fakeTasks{tasks: []engine.TaskSnapshot{
		{ARN: arnA, Family: "web", Version: "3", DesiredStatus: "RUNNING", KnownStatus: "RUNNING", NetworkMode: "bridge",
			CPU: 0.5, MemoryMiB: 64, LaunchType: "EC2", ServiceName: "svc",
			RoleARN: "arn:aws:iam::000000000000:role/app", CredentialsID: "cred-a", ExecutionCredentialsID: "exec-a",
			Containers: []engine.ContainerSnapshot{
				{Name: "app", DockerID: "dockerapp", DockerName: "ecs-web-3-app-1", Image: "busybox", ImageID: "sha256:1",
					DesiredStatus: "RUNNING", KnownStatus: "RUNNING", EndpointID: "ep-app", CPU: 256, MemoryMiB: 32,
					CreatedAt: started(), StartedAt: started(), Labels: map[string]string{"com.amazonaws.ecs.task-arn": arnA},
					Networks: []engine.ContainerNetwork{{Name: "bridge", IPv4Address: ipA}},
					Ports:    []engine.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}},
					Health:   "HEALTHY", LogDriver: "json-file", LogOptions: map[string]string{"max-size": "1m"}},
				{Name: "init", DockerID: "dockerinit", DockerName: "ecs-web-3-init-2", Image: "busybox",
					DesiredStatus: "RUNNING", KnownStatus: "STOPPED", EndpointID: "ep-init", ExitCode: &code,
					Networks: []engine.ContainerNetwork{{Name: "bridge"}}},
			}},
		{ARN: arnB, Family: "other", Version: "1", KnownStatus: "RUNNING", NetworkMode: "bridge", CredentialsID: "cred-b",
			Containers: []engine.ContainerSnapshot{{Name: "b", DockerID: "dockerb", EndpointID: "ep-b", KnownStatus: "RUNNING",
				Networks: []engine.ContainerNetwork{{Name: "bridge", IPv4Address: ipB}}}}},
	}}
}

type env struct {
	srv   *Server
	store *credentials.Store
	audit *testutil.SyncBuffer
	logs  *testutil.SyncBuffer
}

func newEnv(t *testing.T, edit func(*Options)) *env {
	t.Helper()
	e := &env{store: credentials.New(nil), audit: &testutil.SyncBuffer{}, logs: &testutil.SyncBuffer{}}
	require.NoError(t, e.store.Set(credentials.Credentials{ID: "cred-a", TaskARN: arnA, RoleType: credentials.RoleTask,
		RoleARN: "arn:aws:iam::000000000000:role/app", AccessKeyID: "ASIAA", SecretAccessKey: secretA, SessionToken: tokenA,
		Expiration: "2030-01-02T10:00:00Z"}))
	require.NoError(t, e.store.Set(credentials.Credentials{ID: "exec-a", TaskARN: arnA, RoleType: credentials.RoleExecution,
		AccessKeyID: "ASIAE", SecretAccessKey: "exec-secret"}))
	o := Options{Tasks: twoTasks(), Credentials: e.store, Cluster: "c1", ContainerInstanceARN: instance,
		AvailabilityZone: "us-east-1a", Audit: e.audit, Now: started,
		Logger: slog.New(logging.Redact(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}
	if edit != nil {
		edit(&o)
	}
	srv, err := New(o)
	require.NoError(t, err)
	e.srv = srv
	return e
}

// get calls path from ip and decodes the JSON body into out (if not nil).
func (e *env) get(t *testing.T, ip, path string, out any) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = ip + ":40000"
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.0")
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	body := w.Body.String()
	if out != nil && w.Code < 300 {
		require.NoError(t, json.Unmarshal([]byte(body), out), body)
	}
	return w.Code, body
}

func TestCredentialsServedToTheirTask(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/v2/credentials/cred-a", "/v1/credentials?id=cred-a"} {
		var got map[string]string
		code, _ := e.get(t, ipA, path, &got)
		require.Equal(t, http.StatusOK, code, path)
		assert.Equal(t, map[string]string{"RoleArn": "arn:aws:iam::000000000000:role/app", "AccessKeyId": "ASIAA",
			"SecretAccessKey": secretA, "Token": tokenA, "Expiration": "2030-01-02T10:00:00Z"}, got, path)
	}
	code, _ := e.get(t, "127.0.0.1", "/v2/credentials/cred-a", nil)
	assert.Equal(t, http.StatusOK, code, "a host-mode caller has no task address; the ID decides")
}

func TestCredentialsErrors(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, ip, path string
		status         int
		code, message  string
	}{
		{"no id v2", ipA, "/v2/credentials/", 400, "NoIdInRequest", "CredentialsV2Request: No Credential ID in the request"},
		{"no id v2 bare", ipA, "/v2/credentials", 400, "NoIdInRequest", "CredentialsV2Request: No Credential ID in the request"},
		{"no id v1", ipA, "/v1/credentials", 400, "NoIdInRequest", "CredentialsV1Request: No Credential ID in the request"},
		{"unknown", ipA, "/v2/credentials/nope", 400, "InvalidIdInRequest", "CredentialsV2Request: Credentials not found"},
		{"another task's", ipB, "/v2/credentials/cred-a", 400, "InvalidIdInRequest", "CredentialsV2Request: Credentials not found"},
		{"execution role", ipA, "/v2/credentials/exec-a", 400, "InvalidIdInRequest", "CredentialsV2Request: Credentials not found"},
		{"not resent yet", ipB, "/v2/credentials/cred-b", 503, "CredentialsUninitialized", "CredentialsV2Request: Credentials uninitialized for ID"},
	} {
		code, body := e.get(t, tc.ip, tc.path, nil)
		assert.Equal(t, tc.status, code, tc.name)
		var got credentialsError
		require.NoError(t, json.Unmarshal([]byte(body), &got), tc.name)
		assert.Equal(t, credentialsError{tc.code, tc.message}, got, tc.name)
	}
}

// One audit line per request, naming the task and never the secrets or the
// ID; the agent's own log has no secret either.
func TestCredentialsAuditedWithoutSecrets(t *testing.T) {
	e := newEnv(t, nil)
	e.get(t, ipA, "/v2/credentials/cred-a", nil)
	e.get(t, ipB, "/v2/credentials/cred-a", nil)
	e.get(t, ipA, "/v1/credentials?id=nope", nil)
	lines := strings.Split(strings.TrimSpace(e.audit.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, `2030-01-02T03:04:05Z 200 172.17.0.2:40000 "/v2/credentials/<id>" "aws-sdk-go-v2/1.0" `+arnA+` GetCredentialsV2 c1 `+instance, lines[0])
	assert.Equal(t, `2030-01-02T03:04:05Z 400 172.17.0.3:40000 "/v2/credentials/<id>" "aws-sdk-go-v2/1.0" `+arnA+` GetCredentialsV2 c1 `+instance, lines[1])
	assert.Equal(t, `2030-01-02T03:04:05Z 400 172.17.0.2:40000 "/v1/credentials?id=<id>" "aws-sdk-go-v2/1.0" - GetCredentials c1 `+instance, lines[2])
	for _, out := range []string{e.audit.String(), e.logs.String()} {
		for _, secret := range []string{secretA, tokenA, "cred-a", "ASIAA"} {
			assert.NotContains(t, out, secret)
		}
	}
	assert.Contains(t, e.logs.String(), "another task's credentials", "the refused cross-task request is logged")
}

func TestV4TaskAndContainer(t *testing.T) {
	e := newEnv(t, nil)
	var task map[string]any
	code, body := e.get(t, "127.0.0.1", "/v4/ep-app/task", &task)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "c1", task["Cluster"])
	assert.Equal(t, arnA, task["TaskARN"])
	assert.Equal(t, "web", task["Family"])
	assert.Equal(t, "3", task["Revision"])
	assert.Equal(t, "us-east-1a", task["AvailabilityZone"])
	assert.Equal(t, "EC2", task["LaunchType"])
	assert.Equal(t, "svc", task["ServiceName"])
	assert.Equal(t, false, task["FaultInjectionEnabled"], "always present in v4")
	assert.Equal(t, map[string]any{"CPU": 0.5, "Memory": 64.0}, task["Limits"])
	containers := task["Containers"].([]any)
	require.Len(t, containers, 2)
	app := containers[0].(map[string]any)
	assert.Equal(t, "dockerapp", app["DockerId"])
	assert.Equal(t, "app", app["Name"])
	assert.Equal(t, map[string]any{"CPU": 256.0, "Memory": 32.0}, app["Limits"])
	assert.Equal(t, "NORMAL", app["Type"])
	assert.Equal(t, 0.0, app["RestartCount"])
	assert.Equal(t, "2030-01-02T03:04:05Z", app["StartedAt"])
	assert.Equal(t, []any{map[string]any{"NetworkMode": "bridge", "IPv4Addresses": []any{ipA}, "AttachmentIndex": 0.0}}, app["Networks"])
	assert.Equal(t, []any{map[string]any{"ContainerPort": 80.0, "Protocol": "tcp", "HostPort": 49153.0, "HostIp": "0.0.0.0"}}, app["Ports"])
	assert.Equal(t, map[string]any{"status": "HEALTHY"}, app["Health"])
	assert.Equal(t, "json-file", app["LogDriver"])
	assert.Equal(t, 0.0, containers[1].(map[string]any)["ExitCode"])
	assert.NotContains(t, body, "cred-a", "no credentials ID in metadata")

	var c map[string]any
	code, _ = e.get(t, ipA, "/v4/ep-init", &c)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "init", c["Name"])
	assert.Equal(t, "STOPPED", c["KnownStatus"])
}

func TestV3ServesTheV2Shapes(t *testing.T) {
	e := newEnv(t, nil)
	var task map[string]any
	code, _ := e.get(t, "127.0.0.1", "/v3/ep-b/task", &task)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, arnB, task["TaskARN"])
	assert.NotContains(t, task, "FaultInjectionEnabled")
	assert.NotContains(t, task, "Limits", "no task-level limits")
	var c map[string]any
	e.get(t, "127.0.0.1", "/v3/ep-b", &c)
	assert.Equal(t, []any{map[string]any{"NetworkMode": "bridge", "IPv4Addresses": []any{ipB}}}, c["Networks"])
	assert.NotContains(t, c, "RestartCount")
}

func TestUnknownEndpointIDAndRoute(t *testing.T) {
	e := newEnv(t, nil)
	code, body := e.get(t, ipA, "/v4/nope/task", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, `"V4 container metadata handler: unable to get task arn from request: no container has the endpoint ID \"nope\""`, body)
	code, body = e.get(t, ipA, "/api/ep-app/task-protection/v1/state", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "not served by this agent")
}

// A stopped container's address may already be another's: it names no
// task.
func TestStoppedContainerAddressNamesNoTask(t *testing.T) {
	tasks := twoTasks()
	tasks.tasks[1].Containers[0].KnownStatus = "STOPPED"
	e := newEnv(t, func(o *Options) { o.Tasks = tasks })
	code, _ := e.get(t, ipB, "/v2/metadata", nil)
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = e.get(t, ipB, "/v2/credentials/cred-a", nil)
	assert.Equal(t, http.StatusOK, code, "the ID alone decides, as for a host-mode caller")
}

func TestV2ResolvesTheCallerByAddress(t *testing.T) {
	e := newEnv(t, nil)
	var task TaskResponse
	code, _ := e.get(t, ipB, "/v2/metadata", &task)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, arnB, task.TaskARN)
	code, _ = e.get(t, ipA, "/v2/metadata/", &task)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, arnA, task.TaskARN)

	var c ContainerResponse
	code, _ = e.get(t, ipA, "/v2/metadata/dockerinit", &c)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "init", c.Name)
	code, _ = e.get(t, ipA, "/v2/metadata/dockerb", nil)
	assert.Equal(t, http.StatusBadRequest, code, "another task's container")

	code, body := e.get(t, "127.0.0.1", "/v2/metadata", nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "no task has a container with address 127.0.0.1")
}

func TestStats(t *testing.T) {
	sample := json.RawMessage(`{"read":"2030-01-02T03:04:05Z","memory_stats":{"usage":1234}}`)
	e := newEnv(t, func(o *Options) { o.Stats = fakeStats{"dockerapp": sample} })
	code, body := e.get(t, ipA, "/v4/ep-app/stats", nil)
	require.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, string(sample), body)

	var all map[string]json.RawMessage
	code, _ = e.get(t, ipA, "/v4/ep-app/task/stats", &all)
	require.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, string(sample), string(all["dockerapp"]))
	assert.Equal(t, "null", string(all["dockerinit"]), "a stopped container has no sample")

	code, _ = e.get(t, ipA, "/v2/stats", &all)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, all, 2)
	code, _ = e.get(t, ipA, "/v4/ep-init/stats", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)

	e = newEnv(t, nil)
	code, body = e.get(t, ipA, "/v4/ep-app/stats", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "not collected")
}

func TestTaskWithTags(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Tags = fakeTags{tags: map[string]map[string]string{arnA: {"team": "web"}, instance: {"rack": "r1"}}}
	})
	var task TaskResponseV4
	code, _ := e.get(t, ipA, "/v4/ep-app/taskWithTags", &task)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]string{"team": "web"}, task.TaskTags)
	assert.Equal(t, map[string]string{"rack": "r1"}, task.ContainerInstanceTags)
	assert.Empty(t, task.Errors)

	e = newEnv(t, func(o *Options) { o.Tags = fakeTags{err: errors.New("UnknownOperationException: ListTagsForResource")} })
	code, _ = e.get(t, ipA, "/v4/ep-app/taskWithTags", &task)
	require.Equal(t, http.StatusOK, code, "missing tags do not fail the request")
	require.Len(t, task.Errors, 2)
	assert.Equal(t, "TaskTags", task.Errors[0].ErrorField)
	assert.Equal(t, arnA, task.Errors[0].ResourceARN)
	assert.Contains(t, task.Errors[0].ErrorMessage, "UnknownOperationException")
	assert.Equal(t, "ContainerInstanceTags", task.Errors[1].ErrorField)
}

// Each caller has its own bucket: one caller over its rate gets 429, the
// others are still served.
func TestRateLimitPerCaller(t *testing.T) {
	now := started()
	var mu sync.Mutex
	e := newEnv(t, func(o *Options) {
		o.RateLimit, o.Burst = 1, 2
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	for i := range 2 {
		code, _ := e.get(t, ipA, "/v4/ep-app", nil)
		require.Equal(t, http.StatusOK, code, "request %d within the burst", i)
	}
	code, body := e.get(t, ipA, "/v4/ep-app", nil)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, rateLimitedBody, body)
	code, _ = e.get(t, ipB, "/v4/ep-b", nil)
	assert.Equal(t, http.StatusOK, code, "another caller is not limited")
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	code, _ = e.get(t, ipA, "/v4/ep-app", nil)
	assert.Equal(t, http.StatusOK, code, "a second later one more request")
}

func TestNewNeedsTasksAndCredentials(t *testing.T) {
	_, err := New(Options{})
	assert.Error(t, err)
}

// The server really listens and stops when its context ends.
func TestServe(t *testing.T) {
	e := newEnv(t, nil)
	ln := httptest.NewUnstartedServer(nil).Listener
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v4/ep-app")
	require.NoError(t, err)
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, buf.String())
	cancel()
	assert.NoError(t, <-done)
}
