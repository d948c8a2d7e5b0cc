package acsserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

const (
	testCluster = "arn:aws:ecs:us-east-1:123456789012:cluster/default"
	testARN     = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0123456789abcdef0123456789abcdef"
)

// stubRegistry knows a set of instances and records SetAgentConnected calls.
type stubRegistry struct {
	mu        sync.Mutex
	instances map[string]error // ARN -> CheckInstance result
	calls     []bool           // SetAgentConnected values, in order
	versions  []VersionInfo    // recordVersion values, in order
}

func newStubRegistry() *stubRegistry {
	return &stubRegistry{instances: map[string]error{testARN: nil}}
}

func (r *stubRegistry) CheckInstance(_ context.Context, _ authz.Principal, cluster, arn string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cluster != testCluster && cluster != "default" {
		return ErrInvalidCluster
	}
	err, ok := r.instances[arn]
	if !ok {
		return ErrInvalidInstance
	}
	return err
}

func (r *stubRegistry) SetAgentConnected(_ context.Context, arn string, connected bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, connected)
	return nil
}

func (r *stubRegistry) recordVersion(_ context.Context, _ string, v VersionInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.versions = append(r.versions, v)
	return nil
}

func (r *stubRegistry) recordedVersions() []VersionInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]VersionInfo(nil), r.versions...)
}

func (r *stubRegistry) set(arn string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances[arn] = err
}

func (r *stubRegistry) connectedCalls() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.calls...)
}

// await polls cond until it holds or a generous deadline passes.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// recv waits for a value on ch with a generous deadline.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting on channel")
		var zero T
		return zero
	}
}

// startServer serves srv on a fresh 127.0.0.1 listener.
func startServer(t *testing.T, srv *Server) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs
}

// rawDial connects a plain gorilla client (no acks, no reconnects).
func rawDial(t *testing.T, hs *httptest.Server, arn string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?clusterArn=default&containerInstanceArn=" + arn
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return c
}
