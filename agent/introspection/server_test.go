package introspection

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	fullID1 = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
	fullID2 = "aaaaaaaaaaaa2222222222222222222222222222222222222222222222222222"
	fullID3 = "bbbbbbbbbbbb3333333333333333333333333333333333333333333333333333"
)

func testSnapshot() *Snapshot {
	return &Snapshot{
		Metadata: MetadataResponse{
			Cluster:              "default",
			ContainerInstanceArn: "arn:aws:ecs:us-west-2:123456789012:container-instance/default/0123",
			Version:              "Open ECS Agent - v0.1.0 (abc)",
		},
		Tasks: []TaskResponse{
			{Arn: "arn:task/one", DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Family: "web", Version: "1",
				Containers: []ContainerResponse{
					{DockerID: fullID1, DockerName: "ecs-web-1-a", Name: "a", Image: "busybox"},
					{DockerID: fullID2, DockerName: "ecs-web-1-b", Name: "b", Image: "busybox"},
				}},
			{Arn: "arn:task/two", KnownStatus: "STOPPED", Family: "db", Version: "3",
				Containers: []ContainerResponse{{DockerID: fullID3, Name: "c"}}},
		},
	}
}

func get(t *testing.T, h http.Handler, method, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code, rec.Body.String()
}

func TestRoot(t *testing.T) {
	s := New(Options{})
	code, body := get(t, s.Handler(), http.MethodGet, "/")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"AvailableCommands":["/v1/metadata","/v1/tasks","/license"]}`, body)
}

func TestMetadata(t *testing.T) {
	s := New(Options{})
	code, _ := get(t, s.Handler(), http.MethodGet, "/v1/metadata")
	assert.Equal(t, http.StatusServiceUnavailable, code, "before the first snapshot")

	s.Publish(testSnapshot())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/metadata", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"Cluster":"default",
		"ContainerInstanceArn":"arn:aws:ecs:us-west-2:123456789012:container-instance/default/0123",
		"Version":"Open ECS Agent - v0.1.0 (abc)"}`, rec.Body.String())
}

func TestTasksEmpty(t *testing.T) {
	s := New(Options{})
	s.Publish(&Snapshot{Metadata: testSnapshot().Metadata})
	code, body := get(t, s.Handler(), http.MethodGet, "/v1/tasks")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"Tasks":[]}`, body)
}

func TestTasksQueries(t *testing.T) {
	s := New(Options{})
	s.Publish(testSnapshot())
	const emptyTask = `{"Arn":"","KnownStatus":"","Family":"","Version":"","Containers":null}`

	for _, tc := range []struct {
		name, target string
		code         int
		arn          string // expected task; "" = the empty error body
	}{
		{"full docker id", "/v1/tasks?dockerid=" + fullID2, 200, "arn:task/one"},
		{"short id, one task", "/v1/tasks?dockerid=bbbbbbbbbbbb", 200, "arn:task/two"},
		{"short id, two containers of one task", "/v1/tasks?dockerid=aaaaaaaaaaaa", 200, "arn:task/one"},
		{"one-character prefix", "/v1/tasks?dockerid=a", 200, "arn:task/one"},
		{"empty dockerid lists all", "/v1/tasks?dockerid=", 200, "all"},
		{"long id is not a prefix", "/v1/tasks?dockerid=aaaaaaaaaaaa1", 404, ""},
		{"unknown docker id", "/v1/tasks?dockerid=cccc", 404, ""},
		{"task arn", "/v1/tasks?taskarn=arn:task/two", 200, "arn:task/two"},
		{"unknown task arn", "/v1/tasks?taskarn=arn:task/nine", 404, ""},
		{"both parameters", "/v1/tasks?taskarn=arn:task/two&dockerid=" + fullID3, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, s.Handler(), http.MethodGet, tc.target)
			assert.Equal(t, tc.code, code, body)
			switch tc.arn {
			case "":
				assert.JSONEq(t, emptyTask, body)
			case "all":
				assert.Contains(t, body, `"Tasks":[`)
			default:
				assert.Contains(t, body, `"Arn":"`+tc.arn+`"`)
			}
		})
	}
}

func TestAmbiguousShortDockerID(t *testing.T) {
	snap := testSnapshot()
	snap.Tasks[1].Containers[0].DockerID = "aaaaaaaaaaaa9999"
	s := New(Options{})
	s.Publish(snap)
	code, _ := get(t, s.Handler(), http.MethodGet, "/v1/tasks?dockerid=aaaaaaaaaaaa")
	assert.Equal(t, http.StatusBadRequest, code)
}

func TestTaskResponseShape(t *testing.T) {
	s := New(Options{})
	s.Publish(testSnapshot())
	_, body := get(t, s.Handler(), http.MethodGet, "/v1/tasks?taskarn=arn:task/two")
	assert.JSONEq(t, `{"Arn":"arn:task/two","KnownStatus":"STOPPED","Family":"db","Version":"3",
		"Containers":[{"DockerId":"`+fullID3+`","DockerName":"","Name":"c","Image":"","ImageID":""}]}`, body)
}

func TestLicense(t *testing.T) {
	code, body := get(t, New(Options{}).Handler(), http.MethodGet, "/license")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Apache License\n                           Version 2.0, January 2004",
		"/license serves the project's LICENSE, the Apache License 2.0")
	assert.Contains(t, body, "END OF TERMS AND CONDITIONS", "the whole text, not a pointer to it")
	_, body = get(t, New(Options{License: "custom\n"}).Handler(), http.MethodGet, "/license")
	assert.Equal(t, "custom\n", body)
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	s := New(Options{})
	s.Publish(testSnapshot())
	code, _ := get(t, s.Handler(), http.MethodGet, "/v2/metadata")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, s.Handler(), http.MethodGet, "/v1/metadata/extra")
	assert.Equal(t, http.StatusNotFound, code)

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/metadata", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Contains(t, rec.Header().Get("Allow"), http.MethodGet)
	code, _ = get(t, s.Handler(), http.MethodDelete, "/")
	assert.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestPublishReplacesSnapshot(t *testing.T) {
	s := New(Options{})
	snap := testSnapshot()
	s.Publish(snap)
	next := *snap
	next.Metadata.Cluster = "other"
	s.Publish(&next)
	_, body := get(t, s.Handler(), http.MethodGet, "/v1/metadata")
	assert.Contains(t, body, `"Cluster":"other"`)
}

func TestServeStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := New(Options{})
	s.Publish(testSnapshot())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/metadata")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "container-instance/default/0123")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
