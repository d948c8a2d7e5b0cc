package tcsserver

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/testutil"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

func TestHandshakeRejections(t *testing.T) {
	ts := startServer(t, nil)
	ts.reg.owners["arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000000000000000000000000000000c"] = keyA
	ts.reg.inactive["arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000000000000000000000000000000c"] = true

	for _, tc := range []struct {
		name, cluster, instance, key string
		status                       int
		body                         string
	}{
		{"missing parameters", "", "", keyA, 400, `{"BadRequestException":"cluster and containerInstance are required"}`},
		{"unsigned", cluster, instA, "", 403, `{"MissingAuthenticationTokenException":"Missing Authentication Token"}`},
		{"unknown key", cluster, instA, keyBad, 403, `{"UnrecognizedClientException":"The security token included in the request is invalid."}`},
		{"another key's instance", cluster, instA, keyB, 403, `{"AccessDeniedException":"User: arn:aws:iam::123456789012:user/agent-b is not authorized to perform: ecs:StartTelemetrySession on resource: ` + instA + ` because the container instance was registered with another access key."}`},
		{"invalid cluster", "prod", instA, keyA, 400, `{"InvalidClusterException":"Invalid cluster"}`},
		{"invalid instance", cluster, instA + "0", keyA, 400, `{"InvalidInstanceException":"Invalid instance"}`},
		{"inactive instance", cluster, "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000000000000000000000000000000c", keyA,
			400, `{"InactiveInstanceException":"Container instance is inactive"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			if tc.cluster != "" {
				q.Set("cluster", tc.cluster)
				q.Set("containerInstance", tc.instance)
			}
			u := ts.hs.URL + "/tcs/ws?" + q.Encode()
			req, err := http.NewRequest(http.MethodGet, u, nil)
			require.NoError(t, err)
			if tc.key != "" {
				req.Header = signedUpgrade(t, u, tc.key)
			}
			resp, err := ts.hs.Client().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.JSONEq(t, tc.body, string(body))
		})
	}
	assert.Zero(t, ts.srv.Sessions())
}

func TestHeartbeats(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.HeartbeatInterval = 10 * time.Millisecond })
	c := ts.dial(t, instA, keyA)
	require.NoError(t, c.ws.SetReadDeadline(time.Now().Add(15*time.Second)))
	for range 2 {
		_, data, err := c.ws.ReadMessage()
		require.NoError(t, err)
		msg, err := wire.Decode(data)
		require.NoError(t, err)
		hb, ok := msg.(*wire.HeartbeatMessage)
		require.True(t, ok, "got %T", msg)
		require.NotNil(t, hb.Healthy)
		assert.True(t, *hb.Healthy)
	}
}

func TestMaximumLifetimeClosesNormally(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxConnectionLifetime = 50 * time.Millisecond })
	c := ts.dial(t, instA, keyA)
	ce := c.closeCode()
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
	assert.Equal(t, "ConnectionExpired: Reconnect to continue", ce.Text)
	await(t, "session gone", func() bool { return ts.srv.Sessions() == 0 })
}

func TestSilentAgentIsDisconnected(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	c := ts.dial(t, instA, keyA)
	ce := c.closeCode()
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
	assert.Equal(t, "IdleTimeout: nothing received for 100ms", ce.Text)
}

// A frame over the limit ends the session before it is buffered. The
// close frame (1009) may be lost to the reset of a socket with unread data,
// so the test asserts what the server did.
func TestOversizedFrameClosesTheConnection(t *testing.T) {
	var logs testutil.SyncBuffer
	ts := startServer(t, func(o *Options) {
		o.MaxFrameBytes = 4096
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	c := ts.dial(t, instA, keyA)
	await(t, "the session", func() bool { return ts.srv.Sessions() == 1 })
	big := metrics(instA, "m1", true, taskMetric(taskA, 1))
	big.TaskMetrics[0].ClusterARN = strings.Repeat("x", 8192)
	_ = c.ws.WriteMessage(websocket.TextMessage, c.frame(big)) // the server may reset the connection first
	require.NoError(t, c.ws.SetReadDeadline(time.Now().Add(15*time.Second)))
	_, _, err := c.ws.ReadMessage()
	require.Error(t, err)
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	}
	await(t, "the session ended", func() bool { return ts.srv.Sessions() == 0 })
	assert.Contains(t, logs.String(), "agent sent a frame over the TCS read limit; closing the connection")
	assert.Empty(t, ts.store.Containers())
}

func TestDisconnectAndClose(t *testing.T) {
	ts := startServer(t, nil)
	a := ts.dial(t, instA, keyA)
	b := ts.dial(t, instB, keyB)
	await(t, "two sessions", func() bool { return ts.srv.Sessions() == 2 })

	ts.srv.Disconnect(instA)
	ce := a.closeCode()
	assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
	await(t, "one session", func() bool { return ts.srv.Sessions() == 1 })

	closed := make(chan struct{})
	go func() {
		ts.srv.Close() // waits for the sessions to end
		close(closed)
	}()
	assert.Equal(t, websocket.CloseGoingAway, b.closeCode().Code)
	<-closed
	assert.Zero(t, ts.srv.Sessions())
	resp, err := ts.hs.Client().Get(ts.tcsURL(instA))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestClusterOf(t *testing.T) {
	name, arn := clusterOf(instA)
	assert.Equal(t, "default", name)
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:cluster/default", arn)
	name, arn = clusterOf("garbage")
	assert.Empty(t, name)
	assert.Empty(t, arn)
}
