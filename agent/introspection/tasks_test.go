package introspection

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
)

func TestTaskResponsesShape(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	got := TaskResponses([]engine.TaskSnapshot{{
		ARN: "arn:task/one", Family: "web", Version: "4", DesiredStatus: "RUNNING", KnownStatus: "RUNNING",
		Containers: []engine.ContainerSnapshot{{
			Name: "app", DockerID: fullID1, DockerName: "ecs-web-4-app-abc", Image: "busybox", ImageID: "sha256:1",
			KnownStatus: "RUNNING", CreatedAt: created, StartedAt: created.Add(time.Second),
			Ports: []engine.NetworkBinding{
				{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"},
				{Protocol: "udp", ContainerPortRange: "9000-9001", HostPortRange: "50000-50001"},
			},
			Volumes:      []engine.VolumeSnapshot{{DockerName: "ecs-web-4-data", Source: "/var/lib/docker/volumes/x", Destination: "/data"}},
			RestartCount: 2,
		}, {Name: "pending", Image: "busybox"}},
	}})
	require.Len(t, got, 1)
	body := mustJSON(t, got[0])
	assert.JSONEq(t, `{"Arn":"arn:task/one","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"web","Version":"4",
	 "Containers":[
	  {"DockerId":"`+fullID1+`","DockerName":"ecs-web-4-app-abc","Name":"app","Image":"busybox","ImageID":"sha256:1",
	   "CreatedAt":"2026-11-23T10:00:00Z","StartedAt":"2026-11-23T10:00:01Z",
	   "Ports":[{"ContainerPort":80,"Protocol":"tcp","HostPort":49153,"HostIp":"0.0.0.0"}],
	   "Volumes":[{"DockerName":"ecs-web-4-data","Source":"/var/lib/docker/volumes/x","Destination":"/data"}],
	   "RestartCount":2},
	  {"DockerId":"","DockerName":"","Name":"pending","Image":"busybox","ImageID":""}]}`, body)
}

func TestDesiredStatusBlanking(t *testing.T) {
	for _, tc := range []struct{ desired, known, want string }{
		{"RUNNING", "RUNNING", "RUNNING"},
		{"STOPPED", "RUNNING", "STOPPED"},
		{"STOPPED", "STOPPED", "STOPPED"},
		{"RUNNING", "STOPPED", ""},
		{"PENDING", "RUNNING", ""},
		{"RUNNING", "PENDING", "RUNNING"},
	} {
		assert.Equal(t, tc.want, shownDesiredStatus(tc.desired, tc.known), "desired %s known %s", tc.desired, tc.known)
	}
}

func TestTasksServedFromTheSourcePerRequest(t *testing.T) {
	var tasks []engine.TaskSnapshot
	s := New(Options{Tasks: func() []TaskResponse { return TaskResponses(tasks) }})
	s.Publish(&Snapshot{Metadata: MetadataResponse{Cluster: "c"}})

	code, body := get(t, s.Handler(), http.MethodGet, "/v1/tasks")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"Tasks":[]}`, body)

	tasks = []engine.TaskSnapshot{{ARN: "arn:task/a", KnownStatus: "STOPPED", DesiredStatus: "RUNNING",
		Containers: []engine.ContainerSnapshot{{Name: "x", DockerID: fullID3}}}}
	code, body = get(t, s.Handler(), http.MethodGet, "/v1/tasks?dockerid=bbbbbbbbbbbb")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"Arn":"arn:task/a"`)
	assert.NotContains(t, body, "DesiredStatus")
	code, _ = get(t, s.Handler(), http.MethodGet, "/v1/tasks?taskarn=arn:task/a")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, s.Handler(), http.MethodGet, "/v1/tasks?taskarn=arn:task/b")
	assert.Equal(t, http.StatusNotFound, code)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
