package wsconn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

var testCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Source: "test"}, nil
})

func TestWebsocketURL(t *testing.T) {
	assert.Equal(t, "wss://h/ws?a=1", wsconn.WebsocketURL("https://h/ws?a=1"))
	assert.Equal(t, "ws://127.0.0.1:1/ws", wsconn.WebsocketURL("http://127.0.0.1:1/ws"))
	assert.Equal(t, "wss://h/ws", wsconn.WebsocketURL("wss://h/ws"))
}

func TestSignUpgrade(t *testing.T) {
	const u = "https://ecs-t-1.us-east-1.amazonaws.com/ws?cluster=default"
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h, err := wsconn.SignUpgrade(context.Background(), testCreds, "ecs", "us-east-1", u, now)
	require.NoError(t, err)
	assert.Empty(t, h.Get("Host"))
	assert.Equal(t, "20260102T030405Z", h.Get("X-Amz-Date"))
	assert.Equal(t, "token", h.Get("X-Amz-Security-Token"))

	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	creds, _ := testCreds.Retrieve(context.Background())
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, wsconn.EmptyPayloadHash, "ecs", "us-east-1", now))
	assert.Equal(t, req.Header.Get("Authorization"), h.Get("Authorization"))
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", wsconn.EmptyPayloadHash)

	_, err = wsconn.SignUpgrade(context.Background(), nil, "ecs", "us-east-1", u, now)
	assert.ErrorContains(t, err, "no credentials provider")
	failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no role")
	})
	_, err = wsconn.SignUpgrade(context.Background(), failing, "ecs", "us-east-1", u, now)
	assert.ErrorContains(t, err, "retrieve credentials: no role")
}

func TestDialerDecodesARejectedUpgrade(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"BadRequestException":"no"}`))
	}))
	defer srv.Close()
	_, err := wsconn.NewDialer(nil, 1<<10)(context.Background(), wsconn.WebsocketURL(srv.URL), nil)
	var hs *wsconn.HandshakeError
	require.ErrorAs(t, err, &hs)
	assert.Equal(t, http.StatusBadRequest, hs.Status)
	assert.JSONEq(t, `{"BadRequestException":"no"}`, string(hs.Body))
}

func TestDialerSetsTheReadLimit(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 100)))
		_, _, _ = ws.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	ws, err := wsconn.NewDialer(nil, 64)(context.Background(), wsconn.WebsocketURL(srv.URL), nil)
	require.NoError(t, err)
	defer ws.Close()
	_, _, err = ws.ReadMessage()
	assert.ErrorIs(t, err, websocket.ErrReadLimit)
}
