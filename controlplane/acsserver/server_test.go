package acsserver

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

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/testutil"
)

type codedError struct{ code string }

func (e codedError) Error() string     { return "signature mismatch" }
func (e codedError) ErrorCode() string { return e.code }

func TestHandshakeRejections(t *testing.T) {
	reg := newStubRegistry()
	reg.set("inactive", ErrInactiveInstance)
	reg.set("broken", errors.New("store on fire"))
	reg.set("others", &authz.DeniedError{Principal: authz.Principal{AccessKeyID: "AKIA2", ARN: "arn:aws:iam::000000000000:user/agent2"},
		Action: authz.ActionPoll, Resource: "others", Reason: "the container instance was registered with another access key"})
	srv := New(Options{Registry: reg, Authenticate: func(r *http.Request) (authz.Principal, error) {
		switch r.Header.Get("X-Test-Auth") {
		case "deny":
			return authz.Principal{}, errors.New("no credentials")
		case "coded":
			return authz.Principal{}, codedError{"InvalidSignatureException"}
		}
		return authz.Principal{AccessKeyID: "AKIA2", Role: authz.RoleAgent}, nil
	}})
	hs := startServer(t, srv)

	for _, tc := range []struct {
		name, cluster, arn, auth string
		status                   int
		body                     string
	}{
		{"missing params", "", "", "", 400, `{"BadRequestException":"clusterArn and containerInstanceArn are required"}`},
		{"missing instance", "default", "", "", 400, `{"BadRequestException":"clusterArn and containerInstanceArn are required"}`},
		{"access denied", "default", testARN, "deny", 403, `{"AccessDeniedException":"no credentials"}`},
		{"coded auth error", "default", testARN, "coded", 403, `{"InvalidSignatureException":"signature mismatch"}`},
		{"invalid cluster", "other", testARN, "", 400, `{"InvalidClusterException":"Invalid cluster"}`},
		{"invalid instance", "default", "nope", "", 400, `{"InvalidInstanceException":"Invalid instance"}`},
		{"inactive instance", "default", "inactive", "", 400, `{"InactiveInstanceException":"Container instance is inactive"}`},
		{"registry failure", "default", "broken", "", 500, `{"ServerException":"Internal server error"}`},
		{"another key's instance", "default", "others", "", 403, `{"AccessDeniedException":"User: arn:aws:iam::000000000000:user/agent2 is not authorized to perform: ecs:Poll on resource: others because the container instance was registered with another access key."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			if tc.cluster != "" {
				q.Set("clusterArn", tc.cluster)
			}
			if tc.arn != "" {
				q.Set("containerInstanceArn", tc.arn)
			}
			req, err := http.NewRequest(http.MethodGet, hs.URL+"/ws?"+q.Encode(), nil)
			require.NoError(t, err)
			req.Header.Set("X-Test-Auth", tc.auth)
			resp, err := hs.Client().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.JSONEq(t, tc.body, string(body))
			if tc.auth != "coded" { // codes outside the ACS model are retried by the agent
				_, err = wire.DecodeHandshakeError(body)
				assert.NoError(t, err, "the agent can decode it")
			}
		})
	}
	assert.Empty(t, reg.connectedCalls())
	assert.False(t, srv.Connected(testARN))
}

func TestMissedAcksCloseTheConnection(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg, HeartbeatInterval: 10 * time.Millisecond, MissedAcksBeforeClose: 2})
	hs := startServer(t, srv)
	c := rawDial(t, hs, testARN)

	require.NoError(t, c.SetReadDeadline(time.Now().Add(15*time.Second)))
	heartbeats := 0
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, websocket.ClosePolicyViolation, ce.Code)
			break
		}
		msg, err := wire.Decode(data)
		require.NoError(t, err)
		hb, ok := msg.(*wire.HeartbeatMessage)
		require.True(t, ok, "got %T", msg)
		require.NotNil(t, hb.Healthy)
		assert.True(t, *hb.Healthy)
		assert.NotEmpty(t, hb.MessageID)
		heartbeats++
	}
	assert.Equal(t, 2, heartbeats)
	await(t, "agent marked disconnected", func() bool { return len(reg.connectedCalls()) == 2 })
	assert.Equal(t, []bool{true, false}, reg.connectedCalls())
}

func TestOverlappingSessionsStayConnected(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg, HeartbeatInterval: time.Hour})
	hs := startServer(t, srv)

	first := rawDial(t, hs, testARN)
	await(t, "first session", func() bool { return srv.Connected(testARN) })
	second := rawDial(t, hs, testARN)
	await(t, "second session", func() bool {
		return len(srv.sessions.Of(testARN)) == 2
	})

	require.NoError(t, first.Close())
	await(t, "first session gone", func() bool {
		return len(srv.sessions.Of(testARN)) == 1
	})
	assert.True(t, srv.Connected(testARN))
	assert.Equal(t, []bool{true}, reg.connectedCalls())

	require.NoError(t, second.Close())
	await(t, "disconnected", func() bool { return !srv.Connected(testARN) })
	await(t, "registry told", func() bool { return len(reg.connectedCalls()) == 2 })
	assert.Equal(t, []bool{true, false}, reg.connectedCalls())
}

func TestSendWithoutSession(t *testing.T) {
	srv := New(Options{Registry: newStubRegistry()})
	require.ErrorIs(t, srv.Send(testARN, &wire.PayloadMessage{}), ErrNotConnected)
	require.ErrorIs(t, srv.Send(testARN, struct{}{}), wire.ErrUnknownType)
}

func TestClosedServerRefusesSessions(t *testing.T) {
	srv := New(Options{Registry: newStubRegistry()})
	hs := startServer(t, srv)
	srv.Close()
	resp, err := hs.Client().Get(hs.URL + "/ws?clusterArn=default&containerInstanceArn=" + url.QueryEscape(testARN))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// A frame over the read limit closes the connection with 1009 before it is
// buffered, and the session ends.
func TestOversizedMessageClosesTheConnection(t *testing.T) {
	reg := newStubRegistry()
	var got []any
	var logs testutil.SyncBuffer
	srv := New(Options{Registry: reg, HeartbeatInterval: time.Hour, MaxMessageBytes: 1024,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnMessage: func(_ string, msg any) { got = append(got, msg) }})
	hs := startServer(t, srv)
	c := rawDial(t, hs, testARN)
	await(t, "session", func() bool { return srv.Connected(testARN) })

	big := `{"type":"AckRequest","message":{"messageId":"` + strings.Repeat("x", 2048) + `"}}`
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(big)))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(15*time.Second)))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
	await(t, "session ended", func() bool { return !srv.Connected(testARN) })
	assert.Empty(t, got, "the oversized message was not handed on")
	await(t, "the reason logged", func() bool { return strings.Contains(logs.String(), "read limit exceeded") })
	assert.Contains(t, logs.String(), "agent sent a message over the ACS read limit; closing the connection")
	assert.Contains(t, logs.String(), "limitBytes=1024")
}

// The handshake's version parameters reach the registry (Amazon's agent
// sends its versionInfo nowhere else); a handshake without them records nothing.
func TestHandshakeRecordsVersionInfo(t *testing.T) {
	reg := newStubRegistry()
	srv := New(Options{Registry: reg, HeartbeatInterval: time.Hour, RecordVersionInfo: reg.recordVersion})
	hs := startServer(t, srv)

	q := url.Values{}
	q.Set("clusterArn", "default")
	q.Set("containerInstanceArn", testARN)
	q.Set("agentHash", "a1b2c3d")
	q.Set("agentVersion", "1.105.1")
	q.Set("dockerVersion", "DockerVersion: 20.10.24")
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?" + q.Encode()
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	await(t, "session", func() bool { return srv.Sessions() == 1 })
	assert.Equal(t, []VersionInfo{{AgentVersion: "1.105.1", AgentHash: "a1b2c3d", DockerVersion: "DockerVersion: 20.10.24"}},
		reg.recordedVersions())

	rawDial(t, hs, testARN) // no version parameters
	await(t, "second session", func() bool { return srv.Sessions() == 2 })
	assert.Len(t, reg.recordedVersions(), 1)

	require.NoError(t, c.Close())
	await(t, "one session left", func() bool { return srv.Sessions() == 1 })
}
