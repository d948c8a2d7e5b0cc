package acs

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/testutil"
)

// largestPayload builds a PayloadMessage of the largest legitimate size the
// read limit is sized for: 10 tasks, each with a 64 KiB task definition
// whose dockerConfig doubles when escaped, and both role credentials.
func largestPayload() *wire.PayloadMessage {
	quoted := strings.Repeat(`\"`, 16<<10) // 32 KiB that encode as 64 KiB
	token := strings.Repeat("t", 2048)
	p := &wire.PayloadMessage{MessageID: "big", ClusterARN: "default", ContainerInstanceARN: testInstanceARN}
	for i := range 10 {
		p.Tasks = append(p.Tasks, wire.Task{
			ARN: "arn:aws:ecs:us-west-2:123456789012:task/default/" + strconv.Itoa(i), Family: "f", Version: "1",
			Containers: []wire.Container{{Name: "c", Image: "busybox", DockerConfig: &wire.DockerConfig{
				Config: `{"Labels":{"x":"` + quoted + `"}}`, HostConfig: `{"Binds":["` + quoted + `"]}`,
			}}},
			Overrides:                strings.Repeat("o", 8<<10),
			RoleCredentials:          &wire.IAMRoleCredentials{SessionToken: token, SecretAccessKey: "s", AccessKeyID: "a"},
			ExecutionRoleCredentials: &wire.IAMRoleCredentials{SessionToken: token, SecretAccessKey: "s", AccessKeyID: "a"},
		})
	}
	return p
}

// TestOversizedFrameClosesTheConnection runs the session with the real
// websocket dialer against a loopback server: the largest legitimate payload
// is handled; a frame over MaxFrameBytes closes the connection with 1009
// before its payload is read, and the agent logs why.
func TestOversizedFrameClosesTheConnection(t *testing.T) {
	big, err := wire.Encode(largestPayload())
	require.NoError(t, err)
	require.Greater(t, len(big), 1<<20, "the test payload is realistic")
	require.Less(t, len(big), MaxFrameBytes, "the largest legitimate payload fits the limit")
	t.Logf("largest legitimate payload: %d bytes; limit %d", len(big), MaxFrameBytes)

	closeCode := make(chan int, 1)
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, big); err != nil {
			return
		}
		// A frame one byte over the limit, written in the background: the
		// agent refuses it after the header and may never read the rest.
		go func() { _ = ws.WriteMessage(websocket.TextMessage, make([]byte, MaxFrameBytes+1)) }()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if assert.ErrorAs(t, err, &ce) {
					closeCode <- ce.Code
				}
				return
			}
		}
	}))
	defer srv.Close()

	logs := &testutil.SyncBuffer{}
	handled := make(chan string, 4)
	s := NewSession(Options{
		DiscoverEndpoint: func(context.Context) (string, error) { return srv.URL, nil },
		Cluster:          "default", ContainerInstanceARN: testInstanceARN, Region: "us-west-2", Credentials: testCreds,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Handler: func(_ context.Context, msg any) {
			if p, ok := msg.(*wire.PayloadMessage); ok {
				handled <- p.MessageID
			}
		},
		BackoffMin: time.Hour, // one connection is enough
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	select {
	case id := <-handled:
		assert.Equal(t, "big", id)
	case <-ctx.Done():
		t.Fatal("the largest legitimate payload was not handled")
	}
	select {
	case code := <-closeCode:
		assert.Equal(t, websocket.CloseMessageTooBig, code)
	case <-ctx.Done():
		t.Fatal("the agent did not close the connection on an oversized frame")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "ACS sent a frame larger than the agent accepts") {
		require.True(t, time.Now().Before(deadline), "no log line says why; logs:\n%s", logs.String())
		time.Sleep(10 * time.Millisecond) // polling the log, not waiting for an event
	}
	assert.Contains(t, logs.String(), "limit="+strconv.Itoa(MaxFrameBytes))
	cancel()
	require.NoError(t, <-done)
}
