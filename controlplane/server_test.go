package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

const (
	testKey    = "AKIDCONTROLPLANE"
	testSecret = "controlplane-secret"
)

// running is a control plane served on a loopback port.
type running struct {
	srv  *Server
	url  string
	stop func()
}

func start(t *testing.T, dataDir string, mutate func(*Options)) *running {
	t.Helper()
	o := Options{
		DataDir:           dataDir,
		Region:            "us-east-1",
		AccountID:         "123456789012",
		Credentials:       authz.Keyring{testKey: {SecretAccessKey: testSecret}},
		HeartbeatInterval: time.Hour, // heartbeats are acsserver's business, not these tests'
	}
	if mutate != nil {
		mutate(&o)
	}
	srv, err := New(o)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	r := &running{srv: srv, url: "http://" + ln.Addr().String()}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, srv.Close())
	}
	t.Cleanup(r.stop)
	return r
}

func sdkClient(url string) *ecs.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(url) })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// registerInstance creates cluster ("" for the default one) and registers a
// container instance in it; it returns the instance's ARN.
func registerInstance(t *testing.T, client *ecs.Client, cluster string) string {
	t.Helper()
	var name *string
	if cluster != "" {
		name = aws.String(cluster)
	}
	ctx := context.Background()
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: name})
	require.NoError(t, err)
	reg, err := client.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: name})
	require.NoError(t, err)
	return aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
}

// agentConnected reads the instance's agentConnected in the default cluster.
func agentConnected(t *testing.T, client *ecs.Client, arn string) bool {
	t.Helper()
	d, err := client.DescribeContainerInstances(context.Background(),
		&ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	require.NoError(t, err)
	return d.ContainerInstances[0].AgentConnected
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	ctx := context.Background()

	cp := start(t, dir, nil)
	arn := registerInstance(t, sdkClient(cp.url), "keep")
	cp.stop()

	cp = start(t, dir, nil)
	client := sdkClient(cp.url)
	list, err := client.ListClusters(ctx, &ecs.ListClustersInput{})
	require.NoError(t, err)
	assert.Equal(t, []string{"arn:aws:ecs:us-east-1:123456789012:cluster/keep"}, list.ClusterArns)
	desc, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("keep"), ContainerInstances: []string{arn}})
	require.NoError(t, err)
	require.Len(t, desc.ContainerInstances, 1)
	assert.Equal(t, "ACTIVE", aws.ToString(desc.ContainerInstances[0].Status))
}

// dialACS opens the ACS websocket the way the agent does: a SigV4-signed GET
// (empty payload) whose headers go on the upgrade request.
func dialACS(t *testing.T, base, cluster, arn, secret string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return dialACSAs(t, base, cluster, arn, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret})
}

// dialACSAs is dialACS signed with creds; a session token goes in
// X-Amz-Security-Token, as Amazon's agent sends it.
func dialACSAs(t *testing.T, base, cluster, arn string, creds aws.Credentials) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	q := "agentHash=abc&agentVersion=0.1.0&clusterArn=" + cluster + "&containerInstanceArn=" + arn +
		"&dockerVersion=DockerVersion%3A+20.10.5&protocolVersion=2&sendCredentials=true&seqNum=1"
	httpURL := base + "/ws?" + q
	req, err := http.NewRequest(http.MethodGet, httpURL, nil)
	require.NoError(t, err)
	sum := sha256.Sum256(nil)
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()))
	header := http.Header{}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := req.Header.Get(k); v != "" {
			header.Set(k, v)
		}
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(httpURL, "http"), header)
}

func TestACSWiring(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerInstance(t, client, "")

	dpe, err := client.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{ContainerInstance: aws.String(arn)})
	require.NoError(t, err)
	assert.Equal(t, cp.url, aws.ToString(dpe.Endpoint))

	connected := func() bool { return agentConnected(t, client, arn) }

	_, resp, err := dialACS(t, cp.url, "default", arn, "wrong")
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	_, resp, err = dialACS(t, cp.url, "nope", arn, testSecret)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	ws, _, err := dialACS(t, aws.ToString(dpe.Endpoint), "default", arn, testSecret)
	require.NoError(t, err)
	defer ws.Close()
	waitFor(t, "agentConnected=true", connected)

	// Deregistration drops the session and the agent shows disconnected.
	_, err = client.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(arn)})
	require.NoError(t, err)
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	var closeErr *websocket.CloseError
	assert.True(t, errors.As(err, &closeErr), "want a close frame, got %v", err)
	assert.False(t, connected())

	_, resp, err = dialACS(t, cp.url, "default", arn, testSecret)
	require.Error(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an INACTIVE instance is refused")
}

func TestRestartMarksAgentsDisconnected(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	ctx := context.Background()
	cp := start(t, dir, nil)
	arn := registerInstance(t, sdkClient(cp.url), "")
	// Record a session directly, then "crash": the store keeps the flag.
	require.NoError(t, registry{cp.srv.api}.SetAgentConnected(ctx, arn, true))
	cp.stop()

	cp = start(t, dir, nil)
	assert.False(t, agentConnected(t, sdkClient(cp.url), arn))
}

func TestCredentialsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(path, []byte(`
# comment
[default]
aws_access_key_id = AKID1
aws_secret_access_key = secret1

[other]
; another comment
aws_access_key_id=AKID2
aws_secret_access_key=secret2
aws_session_token = tok
[empty]
region = us-east-1
[agent]
aws_access_key_id = AKID3
aws_secret_access_key = secret3
ecs_role = agent
[admin]
aws_access_key_id = AKID4
aws_secret_access_key = secret4
ecs_role = Admin
`), 0o600))
	creds, err := readCredentialsFile(path)
	require.NoError(t, err)
	assert.Equal(t, authz.Keyring{
		"AKID1": {SecretAccessKey: "secret1", Name: "default"},
		"AKID2": {SecretAccessKey: "secret2", SessionToken: "tok", Name: "other"},
		"AKID3": {SecretAccessKey: "secret3", Role: authz.RoleAgent, Name: "agent"},
		"AKID4": {SecretAccessKey: "secret4", Role: authz.RoleAdmin, Name: "admin"},
	}, creds)

	for content, want := range map[string]string{
		"[half]\naws_access_key_id = X\n":                                                                                "half",
		"[p]\naws_access_key_id = X\naws_secret_access_key = s\necs_role = root\n":                                       `line 4: ecs_role "root": want admin or agent`,
		"[a]\naws_access_key_id = X\naws_secret_access_key = s\n[b]\naws_access_key_id = X\naws_secret_access_key = t\n": `profiles "a" and "b" have the same aws_access_key_id X`,
	} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err = readCredentialsFile(path)
		assert.ErrorContains(t, err, want)
	}

	_, err = readCredentialsFile(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestNewNeedsCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err := New(Options{DataDir: t.TempDir()})
	require.ErrorIs(t, err, ErrNoCredentials)
	assert.Contains(t, err.Error(), "-credentials")
	assert.Contains(t, err.Error(), "AWS_ACCESS_KEY_ID")

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	srv, err := New(Options{DataDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, srv.Close())
}

func TestNewValidatesOptions(t *testing.T) {
	creds := authz.Keyring{testKey: {SecretAccessKey: testSecret}}
	for name, o := range map[string]Options{
		"account":                   {DataDir: t.TempDir(), Credentials: creds, AccountID: "12"},
		"data dir":                  {Credentials: creds},
		"advertise":                 {DataDir: t.TempDir(), Credentials: creds, AdvertiseURL: "ftp://x"},
		"tls half":                  {DataDir: t.TempDir(), Credentials: creds, TLSCert: "cert.pem"},
		"pprof on the API listener": {DataDir: t.TempDir(), Credentials: creds, Profiling: true},
	} {
		_, err := New(o)
		assert.Error(t, err, name)
	}
}

func TestDeregisterWhileDisconnectedIsQuiet(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	client := sdkClient(cp.url)
	arn := registerInstance(t, client, "")
	out, err := client.DeregisterContainerInstance(context.Background(), &ecs.DeregisterContainerInstanceInput{
		ContainerInstance: aws.String(arn)})
	require.NoError(t, err)
	assert.Equal(t, "INACTIVE", aws.ToString(out.ContainerInstance.Status))
	assert.False(t, cp.srv.ACS().Connected(aws.ToString(out.ContainerInstance.ContainerInstanceArn)))
}
