package controlplane

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

const (
	agentKey1, agentKey2 = "AKIDAGENTONE", "AKIDAGENTTWO"
	tokenKey, tokenValue = "ASIAAGENTTEMP", "session-token"
)

func clientAs(url, key, token string) *ecs.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key, testSecret, token),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(url) })
}

// The ACS session of an instance opens only for the key that registered it
// (or an admin key); another agent key gets AccessDeniedException, which the
// agent treats as unretriable.
func TestACSSessionBelongsToTheRegisteringKey(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), func(o *Options) {
		o.Credentials = authz.Keyring{
			testKey:   {SecretAccessKey: testSecret, Name: "default"},
			agentKey1: {SecretAccessKey: testSecret, Role: authz.RoleAgent, Name: "agent1"},
			agentKey2: {SecretAccessKey: testSecret, Role: authz.RoleAgent, Name: "agent2"},
			tokenKey:  {SecretAccessKey: testSecret, SessionToken: tokenValue, Role: authz.RoleAgent, Name: "temp"},
		}
	})
	arn := registerInstance(t, clientAs(cp.url, agentKey1, ""), "")

	_, resp, err := dialACSAs(t, cp.url, "default", arn, aws.Credentials{AccessKeyID: agentKey2, SecretAccessKey: testSecret})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	exc, err := wire.DecodeHandshakeError(body)
	require.NoError(t, err)
	assert.IsType(t, &wire.AccessDeniedException{}, exc)
	assert.Contains(t, string(body), "is not authorized to perform: ecs:Poll on resource: "+arn)
	assert.False(t, cp.srv.ACS().Connected(arn))

	ws, _, err := dialACSAs(t, cp.url, "default", arn, aws.Credentials{AccessKeyID: agentKey1, SecretAccessKey: testSecret})
	require.NoError(t, err)
	ws.Close()
	ws, _, err = dialACSAs(t, cp.url, "default", arn, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret})
	require.NoError(t, err, "an admin key opens any session")
	ws.Close()

	// Temporary credentials, signed as Amazon's agent signs its upgrade
	// (host, x-amz-date, x-amz-security-token).
	tempArn := registerInstance(t, clientAs(cp.url, tokenKey, tokenValue), "")
	ws, _, err = dialACSAs(t, cp.url, "default", tempArn,
		aws.Credentials{AccessKeyID: tokenKey, SecretAccessKey: testSecret, SessionToken: tokenValue})
	require.NoError(t, err)
	ws.Close()
}

func TestAgentKeyCannotRunTasks(t *testing.T) {
	cp := start(t, t.TempDir(), func(o *Options) {
		o.Credentials = authz.Keyring{agentKey1: {SecretAccessKey: testSecret, Role: authz.RoleAgent, Name: "agent1"}}
	})
	_, err := clientAs(cp.url, agentKey1, "").ListClusters(context.Background(), &ecs.ListClustersInput{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AccessDeniedException")
	assert.Contains(t, err.Error(), "User: arn:aws:iam::123456789012:user/agent1 is not authorized to perform: ecs:ListClusters")
}

func TestTransportCheck(t *testing.T) {
	for addr, loopback := range map[string]bool{
		"127.0.0.1:51677": true, "127.1.2.3:1": true, "[::1]:51677": true, "localhost:51677": true,
		"0.0.0.0:51677": false, ":51677": false, "[::]:51677": false, "192.0.2.10:51677": false, "cp.example:51677": false,
	} {
		assert.Equal(t, loopback, isLoopback(addr), addr)
		err := checkTransport(addr, false, false)
		if loopback {
			assert.NoError(t, err, addr)
		} else {
			assert.ErrorIs(t, err, ErrInsecureListen, addr)
		}
		assert.NoError(t, checkTransport(addr, true, false), "TLS is always fine")
		assert.NoError(t, checkTransport(addr, false, true), "-insecure-http accepts the risk")
	}
	_, err := New(Options{DataDir: t.TempDir(), Listen: "0.0.0.0:51677",
		Credentials: authz.Keyring{testKey: {SecretAccessKey: testSecret}}})
	assert.ErrorIs(t, err, ErrInsecureListen)
}
