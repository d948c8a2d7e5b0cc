package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// engineStub serves a few Engine API paths from handlers, so that the
// adapter's stream handling and error mapping are tested without Docker.
func engineStub(t *testing.T, routes map[string]http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if r.URL.Path == "/_ping" {
			_, _ = w.Write([]byte("OK"))
			return
		}
		path := r.URL.Path
		if i := strings.Index(path[1:], "/"); strings.HasPrefix(path, "/v1.") && i > 0 {
			path = path[i+1:]
		}
		h, ok := routes[r.Method+" "+path]
		if !ok {
			http.Error(w, `{"message":"no route `+r.Method+" "+path+`"}`, http.StatusNotImplemented)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func TestPullStream(t *testing.T) {
	var gotAuth string
	c := engineStub(t, map[string]http.HandlerFunc{
		"POST /images/create": func(w http.ResponseWriter, r *http.Request) {
			gotAuth = r.Header.Get("X-Registry-Auth")
			assert.Equal(t, "127.0.0.1:5000/app", r.URL.Query().Get("fromImage"))
			assert.Equal(t, "1", r.URL.Query().Get("tag"))
			for _, m := range []string{
				`{"status":"Pulling from app","id":"1"}`,
				`{"status":"Downloading","progressDetail":{"current":1500000,"total":40000000},"id":"abc"}`,
				`{"status":"Pull complete","id":"abc"}`,
			} {
				_, _ = fmt.Fprintln(w, m)
			}
		},
	})
	var lines []string
	err := c.PullImage(t.Context(), "127.0.0.1:5000/app:1", runtime.PullOptions{
		Auth:              &runtime.RegistryAuth{Username: "u", Password: "p", ServerAddress: "127.0.0.1:5000"},
		InactivityTimeout: time.Minute,
		Progress:          func(l string) { lines = append(lines, l) },
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"1: Pulling from app", "abc: Downloading 1.5MB/40.0MB", "abc: Pull complete"}, lines)

	raw, err := base64.URLEncoding.DecodeString(gotAuth)
	require.NoError(t, err, "X-Registry-Auth is base64url JSON")
	var auth map[string]string
	require.NoError(t, json.Unmarshal(raw, &auth))
	assert.Equal(t, "u", auth["username"])
	assert.Equal(t, "p", auth["password"])
	assert.Equal(t, "127.0.0.1:5000", auth["serveraddress"])
}

func TestPullErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		is      error
		text    string
	}{
		{"error in stream", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintln(w, `{"status":"Pulling fs layer","id":"abc"}`)
			_, _ = fmt.Fprintln(w, `{"errorDetail":{"message":"write /var/lib/docker: no space left on device"},"error":"write /var/lib/docker: no space left on device"}`)
		}, nil, "pull 127.0.0.1:5000/app:1: write /var/lib/docker: no space left on device"},
		{"auth in stream", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintln(w, `{"errorDetail":{"message":"Head https://r/v2/app/manifests/1: no basic auth credentials"}}`)
		}, runtime.ErrAuth, "pull 127.0.0.1:5000/app:1: registry authentication failed: Head https://r/v2/app/manifests/1: no basic auth credentials"},
		{"auth status", func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusUnauthorized, "Get https://r/v2/: unauthorized: authentication required")
		}, runtime.ErrAuth, "unauthorized: authentication required"},
		{"manifest unknown", func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusNotFound, "manifest for 127.0.0.1:5000/app:1 not found: manifest unknown")
		}, runtime.ErrNotFound, "manifest unknown"},
		{"truncated stream", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprint(w, `{"status":"Downl`)
		}, nil, "pull 127.0.0.1:5000/app:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := engineStub(t, map[string]http.HandlerFunc{"POST /images/create": tc.handler})
			err := c.PullImage(t.Context(), "127.0.0.1:5000/app:1", runtime.PullOptions{})
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			assert.Contains(t, err.Error(), tc.text)
		})
	}
}

func TestPullInactivity(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := engineStub(t, map[string]http.HandlerFunc{
		"POST /images/create": func(w http.ResponseWriter, r *http.Request) {
			// Progress at first, then silence: the timer must be reset by
			// each message and fire only after the last one.
			for range 3 {
				_, _ = fmt.Fprintln(w, `{"status":"Downloading","id":"abc"}`)
				w.(http.Flusher).Flush()
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
	})
	var mu sync.Mutex
	n := 0
	err := c.PullImage(t.Context(), "127.0.0.1:5000/app:1", runtime.PullOptions{
		InactivityTimeout: 200 * time.Millisecond,
		Progress:          func(string) { mu.Lock(); n++; mu.Unlock() },
	})
	require.ErrorIs(t, err, runtime.ErrPullInactive)
	assert.Contains(t, err.Error(), "pull 127.0.0.1:5000/app:1")
	mu.Lock()
	assert.Equal(t, 3, n)
	mu.Unlock()
}

func TestErrorMapping(t *testing.T) {
	c := engineStub(t, map[string]http.HandlerFunc{
		"POST /containers/create": func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusConflict, `Conflict. The container name "/web" is already in use by container "abc".`)
		},
		"GET /containers/web/json": func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusNotFound, "No such container: web")
		},
		"POST /containers/web/start": func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusInternalServerError, "driver failed programming external connectivity")
		},
		"DELETE /images/app:1": func(w http.ResponseWriter, _ *http.Request) {
			jsonError(w, http.StatusConflict, "conflict: unable to remove repository reference")
		},
	})
	_, err := c.CreateContainer(t.Context(), runtime.CreateSpec{Name: "web", Config: []byte(`{"Image":"app:1"}`)})
	require.ErrorIs(t, err, runtime.ErrConflict)
	assert.Contains(t, err.Error(), `The container name "/web" is already in use`)

	_, err = c.InspectContainer(t.Context(), "web")
	require.ErrorIs(t, err, runtime.ErrNotFound)
	assert.Contains(t, err.Error(), "No such container: web")

	err = c.StartContainer(t.Context(), "web")
	require.Error(t, err)
	assert.NotErrorIs(t, err, runtime.ErrNotFound)
	assert.Contains(t, err.Error(), "driver failed programming external connectivity")

	err = c.RemoveImage(t.Context(), "app:1")
	require.Error(t, err)
	assert.NotErrorIs(t, err, runtime.ErrConflict, "a 409 means a name conflict only for create calls")

	_, err = c.CreateContainer(t.Context(), runtime.CreateSpec{Name: "web", Config: []byte(`{"Image":`)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode Config")
}

func TestEventsStream(t *testing.T) {
	c := engineStub(t, map[string]http.HandlerFunc{
		"GET /events": func(w http.ResponseWriter, r *http.Request) {
			assert.Contains(t, r.URL.Query().Get("filters"), `"container":true`)
			for _, m := range []events.Message{
				{Type: "container", Action: "start", Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "web", "image": "app:1", "com.example": "x"}}, TimeNano: 1700000000123456789},
				{Type: "container", Action: "health_status: healthy", Actor: events.Actor{ID: "c1"}, Time: 1700000001},
				{Type: "container", Action: "die", Actor: events.Actor{ID: "c1", Attributes: map[string]string{"exitCode": "137"}}},
				{Type: "container", Action: "exec_create: sh -c true", Actor: events.Actor{ID: "c1"}},
			} {
				_ = json.NewEncoder(w).Encode(m)
			}
			// Then the engine goes away (a Docker restart).
		},
	})
	evc, errc := c.Events(t.Context())
	var got []runtime.Event
	for ev := range evc {
		got = append(got, ev)
	}
	err := <-errc
	require.Error(t, err, "a broken stream reports an error")
	assert.Contains(t, err.Error(), "docker events")
	_, open := <-errc
	assert.False(t, open, "the error channel is closed after one error")

	require.Len(t, got, 4)
	assert.Equal(t, runtime.Event{ContainerID: "c1", Action: runtime.EventStart, Labels: map[string]string{"com.example": "x"},
		Time: time.Unix(0, 1700000000123456789)}, got[0])
	assert.Equal(t, runtime.EventHealth, got[1].Action)
	assert.Equal(t, runtime.HealthHealthy, got[1].Health)
	assert.Equal(t, time.Unix(1700000001, 0), got[1].Time)
	require.NotNil(t, got[2].ExitCode)
	assert.Equal(t, 137, *got[2].ExitCode)
	assert.Equal(t, "exec_create", got[3].Action)
}

func TestEventsEndWithContext(t *testing.T) {
	c := engineStub(t, map[string]http.HandlerFunc{
		"GET /events": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	evc, errc := c.Events(ctx)
	cancel()
	for range evc {
	}
	require.NoError(t, <-errc, "a cancelled context ends the stream without error")
}

func TestEngineDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens any more: Docker is restarting
	c, err := New("tcp://" + addr)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, err = c.InspectContainer(ctx, "x")
	require.Error(t, err)
	assert.NotErrorIs(t, err, runtime.ErrNotFound, "an unreachable engine is not a missing container")
	require.Error(t, c.PullImage(ctx, "busybox", runtime.PullOptions{InactivityTimeout: time.Second}))
	_, err = c.ListContainers(ctx, nil)
	require.Error(t, err)
	evc, errc := c.Events(ctx)
	for range evc {
	}
	require.Error(t, <-errc)
}

func TestContainerFromInspect(t *testing.T) {
	// Trimmed from Docker 20.10's GET /containers/{id}/json.
	const doc = `{
		"Id": "abc", "Name": "/web", "Image": "sha256:img", "Created": "2026-01-02T03:04:05.123456789Z",
		"State": {"Status": "exited", "ExitCode": 2, "Error": "boom", "OOMKilled": true,
			"StartedAt": "2026-01-02T03:04:06Z", "FinishedAt": "0001-01-01T00:00:00Z",
			"Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": []}},
		"Config": {"Image": "app:1", "Labels": {"a": "b"}},
		"NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "53/udp": null},
			"Networks": {"bridge": {"IPAddress": "172.17.0.5", "GlobalIPv6Address": ""}, "app": {"IPAddress": "10.0.0.2", "GlobalIPv6Address": "fd00::2"}}},
		"Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/docker/volumes/data/_data",
			"Destination": "/data", "RW": false}]
	}`
	var r container.InspectResponse
	require.NoError(t, json.Unmarshal([]byte(doc), &r))
	c := containerFromInspect(r)
	assert.Equal(t, runtime.Container{
		ID: "abc", Name: "web", Image: "app:1", ImageID: "sha256:img", Labels: map[string]string{"a": "b"},
		State: "exited", ExitCode: 2, Error: "boom", OOMKilled: true, Health: "unhealthy",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		StartedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Ports:     []runtime.PortBinding{{ContainerPort: 80, HostPort: 49153, HostIP: "0.0.0.0", Protocol: "tcp"}},
		Mounts:    []runtime.Mount{{Name: "data", Source: "/var/lib/docker/volumes/data/_data", Destination: "/data", ReadOnly: true}},
		Networks: []runtime.Network{{Name: "app", IPv4Address: "10.0.0.2", IPv6Address: "fd00::2"},
			{Name: "bridge", IPv4Address: "172.17.0.5"}},
	}, c)
	assert.True(t, c.FinishedAt.IsZero(), "Docker's zero time is the zero time")

	assert.Equal(t, runtime.Container{}, containerFromInspect(container.InspectResponse{}), "nil parts do not panic")
}
