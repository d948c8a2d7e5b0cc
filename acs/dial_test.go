package acs

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

func TestACSURL(t *testing.T) {
	u, err := acsURL("https://ecs-a-1.us-west-2.amazonaws.com/", connectParams{
		cluster: "default", containerInstanceARN: "arn:aws:ecs:us-west-2:1:container-instance/default/ab",
		agentHash: "abc123", agentVersion: "0.1.0", docker: "20.10.5", sendCredentials: true,
	})
	require.NoError(t, err)
	assert.Equal(t, "https://ecs-a-1.us-west-2.amazonaws.com/ws?agentHash=abc123&agentVersion=0.1.0"+
		"&clusterArn=default&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-west-2%3A1%3Acontainer-instance%2Fdefault%2Fab"+
		"&dockerVersion=DockerVersion%3A+20.10.5&protocolVersion=2&sendCredentials=true&seqNum=1", u)
	assert.True(t, strings.HasPrefix(wsconn.WebsocketURL(u), "wss://ecs-a-1."))
	assert.Equal(t, "ws://127.0.0.1:1/ws", wsconn.WebsocketURL("http://127.0.0.1:1/ws"))

	_, err = acsURL("ftp://x", connectParams{})
	require.Error(t, err)
}

func TestSignedHeaderIsValidSigV4(t *testing.T) {
	const u = "https://ecs-a-1.us-east-1.amazonaws.com/ws?agentHash=a&clusterArn=default&seqNum=1"
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h, err := signedHeader(context.Background(), testCreds, "us-east-1", u, now)
	require.NoError(t, err)

	assert.Empty(t, h.Get("Host"))
	assert.Equal(t, "20260102T030405Z", h.Get("X-Amz-Date"))
	assert.Equal(t, "token", h.Get("X-Amz-Security-Token"))
	auth := h.Get("Authorization")
	assert.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/ecs/aws4_request, "), auth)
	assert.Contains(t, auth, "SignedHeaders=host;x-amz-date;x-amz-security-token")

	// Re-signing the same request independently yields the same signature.
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	creds, _ := testCreds.Retrieve(context.Background())
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, wsconn.EmptyPayloadHash, "ecs", "us-east-1", now))
	assert.Equal(t, req.Header.Get("Authorization"), auth)
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", wsconn.EmptyPayloadHash)
}

func TestClassifyDialError(t *testing.T) {
	err := classifyDialError(&wsconn.HandshakeError{Status: 500, Body: []byte("<html>oops")})
	assert.NotErrorIs(t, err, ErrTerminal)
	err = classifyDialError(handshakeReject("ServerException", "busy"))
	assert.NotErrorIs(t, err, ErrTerminal)
	assert.False(t, permissible(err))
	err = classifyDialError(handshakeReject("InactiveInstanceException", "gone"))
	assert.ErrorIs(t, err, errInactive)
}
