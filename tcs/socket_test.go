package tcs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// TestOverARealSocket runs the session with its production dialer against
// an in-process TCS server that speaks the protocol as the control plane's
// must: it verifies the handshake's SigV4 signature and every frame's
// against the URL of the upgrade, then acknowledges each publish.
func TestOverARealSocket(t *testing.T) {
	type received struct {
		msg any
		err error
	}
	got := make(chan received, 16)
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := testVerifier().Verify(r, nil); err != nil {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(wire.EncodeHandshakeError("BadRequestException", err.Error()))
			return
		}
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, frame, err := ws.ReadMessage()
			if err != nil {
				return
			}
			req, env, err := wire.FrameRequest(frame, r.URL)
			if err == nil {
				_, err = testVerifier().Verify(req, env)
			}
			var msg any
			if err == nil {
				msg, err = wire.Decode(env)
			}
			got <- received{msg, err}
			ack, _ := wire.Encode(wire.AckPublishMetric{Message: "ok"})
			_ = ws.WriteMessage(websocket.TextMessage, ack)
		}
	}))
	defer srv.Close()

	tasks := &fakeTasks{}
	tasks.set(engine.TaskSnapshot{ARN: "arn:task/1", Containers: []engine.ContainerSnapshot{{Name: "app", Health: "HEALTHY"}}})
	s := NewSession(Options{
		DiscoverEndpoint:     func(context.Context) (string, error) { return srv.URL, nil },
		Cluster:              "default",
		ContainerInstanceARN: testInstanceARN,
		AgentVersion:         "0.1.0",
		AgentHash:            "abc123",
		DockerVersion:        "20.10.24",
		Region:               "us-west-2",
		Credentials:          testCreds,
		Metrics:              &fakeMetrics{},
		Tasks:                tasks,
		Checks:               []Check{{Type: StatusTypeAgent, Probe: func(context.Context) error { return nil }}},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	deadline := time.After(30 * time.Second)
	var types []string
	for len(types) < 3 {
		select {
		case r := <-got:
			require.NoError(t, r.err, "the server accepts the frame's signature")
			types = append(types, r.msg.(wire.Message).ShapeName())
		case <-deadline:
			t.Fatalf("received only %v", types)
		}
	}
	assert.Equal(t, []string{"PublishMetricsRequest", "PublishHealthRequest", "PublishInstanceStatusRequest"}, types)
	assert.True(t, s.Connected())
	cancel()
	require.NoError(t, <-done)
	assert.False(t, s.Connected())
}
