package tcsserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const (
	region  = "us-east-1"
	secret  = "tcs-test-secret"
	keyA    = "AKIDAGENTA" // agent key that registered instA
	keyB    = "AKIDAGENTB" // agent key that registered instB
	keyBad  = "AKIDUNKNOWN"
	cluster = "default"
	instA   = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000000000000000000000000000000a"
	instB   = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0000000000000000000000000000000b"
	taskA   = "arn:aws:ecs:us-east-1:123456789012:task/default/aaaa"
	taskA2  = "arn:aws:ecs:us-east-1:123456789012:task/default/aaa2"
	taskB   = "arn:aws:ecs:us-east-1:123456789012:task/default/bbbb"
	stopped = "arn:aws:ecs:us-east-1:123456789012:task/default/dead"
)

// fakeRegistry decides handshakes with authz, as the control plane does,
// over a fixed set of instances and tasks.
type fakeRegistry struct {
	mu       sync.Mutex
	owners   map[string]string // instance ARN -> owner key
	inactive map[string]bool
	tasks    map[string]Task
	failing  bool // Tasks fails
}

func newFakeRegistry() *fakeRegistry {
	task := func(arn, id, instance string, stopped bool) Task {
		return Task{Task: telemetry.Task{ARN: arn, ID: id, Cluster: cluster, Family: "web", Revision: 2, Instance: instance},
			Containers: []string{"app", "sidecar"}, Stopped: stopped}
	}
	return &fakeRegistry{
		owners:   map[string]string{instA: keyA, instB: keyB},
		inactive: map[string]bool{},
		tasks: map[string]Task{
			taskA: task(taskA, "aaaa", instA, false), taskA2: task(taskA2, "aaa2", instA, false),
			taskB: task(taskB, "bbbb", instB, false), stopped: task(stopped, "dead", instA, true),
		},
	}
}

func (r *fakeRegistry) CheckInstance(_ context.Context, p authz.Principal, c, arn string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c != cluster && c != "arn:aws:ecs:us-east-1:123456789012:cluster/default" {
		return ErrInvalidCluster
	}
	owner, ok := r.owners[arn]
	if !ok {
		return ErrInvalidInstance
	}
	if err := p.Authorize(authz.ActionStartTelemetrySession, &authz.Instance{ARN: arn, Owner: owner}); err != nil {
		return err
	}
	if r.inactive[arn] {
		return ErrInactiveInstance
	}
	return nil
}

func (r *fakeRegistry) Tasks(_ context.Context, arns []string) (map[string]Task, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return nil, context.DeadlineExceeded
	}
	out := map[string]Task{}
	for _, arn := range arns {
		if t, ok := r.tasks[arn]; ok {
			out[arn] = t
		}
	}
	return out, nil
}

// testServer is a Server with real SigV4 checks over the fake registry and
// a real telemetry store.
type testServer struct {
	srv   *Server
	reg   *fakeRegistry
	store *telemetry.Store
	hs    *httptest.Server
}

func startServer(t *testing.T, mutate func(*Options)) *testServer {
	t.Helper()
	auth := authz.NewAuthenticator("ecs", region, "123456789012", authz.Keyring{
		keyA: {SecretAccessKey: secret, Role: authz.RoleAgent, Name: "agent-a"},
		keyB: {SecretAccessKey: secret, Role: authz.RoleAgent, Name: "agent-b"},
	})
	ts := &testServer{reg: newFakeRegistry(), store: telemetry.New(telemetry.Options{})}
	o := Options{
		Registry:     ts.reg,
		Sink:         ts.store,
		Authenticate: auth.Authenticate,
		VerifyFrame: func(r *http.Request, body []byte) (authz.Principal, error) {
			p, err := auth.Begin(r)
			if err != nil {
				return authz.Principal{}, err
			}
			return p.Finish(body)
		},
		HeartbeatInterval: time.Hour,
	}
	if mutate != nil {
		mutate(&o)
	}
	ts.srv = New(o)
	mux := http.NewServeMux()
	mux.Handle("GET /tcs/ws", ts.srv)
	ts.hs = httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.srv.Close()
		ts.hs.Close()
	})
	return ts
}

// tcsURL is the http URL an agent of instance dials (and signs frames for).
func (ts *testServer) tcsURL(instance string) string {
	q := url.Values{}
	q.Set("agentHash", "abc")
	q.Set("agentVersion", "1.0.0")
	q.Set("cluster", cluster)
	q.Set("containerInstance", instance)
	q.Set("dockerVersion", "20.10.24")
	return ts.hs.URL + "/tcs/ws?" + q.Encode()
}

// signedUpgrade signs GET u (empty body) as an agent does.
func signedUpgrade(t *testing.T, u, key string) http.Header {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	sum := sha256.Sum256(nil)
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "ecs", region, time.Now()))
	h := req.Header.Clone()
	h.Del("Host")
	return h
}

// client is an agent's end of a session, signing its frames with a key.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	signer wire.Signer
}

// dial opens instance's session signed with key (the upgrade and, unless
// changed, every frame).
func (ts *testServer) dial(t *testing.T, instance, key string) *client {
	t.Helper()
	u := ts.tcsURL(instance)
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(u, "http"), signedUpgrade(t, u, key))
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws, signer: signerFor(u, key)}
}

func signerFor(u, key string) wire.Signer {
	return wire.Signer{URL: u, Region: region, Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
}

// frame signs msg.
func (c *client) frame(msg wire.Message) []byte {
	c.t.Helper()
	f, err := c.signer.EncodeFrame(context.Background(), msg, time.Now())
	require.NoError(c.t, err)
	return f
}

func (c *client) sendRaw(frame []byte) {
	c.t.Helper()
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, frame))
}

// publish sends a signed msg and returns the server's answer.
func (c *client) publish(msg wire.Message) any {
	c.t.Helper()
	c.sendRaw(c.frame(msg))
	return c.next()
}

// next returns the next message that is not a heartbeat.
func (c *client) next() any {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(15*time.Second)))
	for {
		_, data, err := c.ws.ReadMessage()
		require.NoError(c.t, err)
		msg, err := wire.Decode(data)
		require.NoError(c.t, err)
		if _, ok := msg.(*wire.HeartbeatMessage); !ok {
			return msg
		}
	}
}

// closeCode reads until the server closes and returns the close frame.
func (c *client) closeCode() *websocket.CloseError {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(15*time.Second)))
	for {
		_, _, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(c.t, err, &ce)
			return ce
		}
	}
}

func metrics(instance, messageID string, fin bool, tasks ...wire.TaskMetric) *wire.PublishMetricsRequest {
	return &wire.PublishMetricsRequest{
		Metadata:    &wire.MetricsMetadata{Cluster: cluster, ContainerInstance: instance, MessageID: messageID, Fin: fin, Idle: len(tasks) == 0},
		TaskMetrics: tasks,
		Timestamp:   wire.At(time.Now()),
	}
}

func taskMetric(arn string, cpuPercent float64, containers ...string) wire.TaskMetric {
	tm := wire.TaskMetric{TaskARN: arn, ClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/default",
		TaskDefinitionFamily: "web", TaskDefinitionVersion: "2"}
	if len(containers) == 0 {
		containers = []string{"app"}
	}
	for _, name := range containers {
		tm.ContainerMetrics = append(tm.ContainerMetrics, wire.ContainerMetric{
			ContainerName:  name,
			CPUStatsSet:    &wire.CWStatsSet{Min: cpuPercent, Max: cpuPercent, Sum: 20 * cpuPercent, SampleCount: 20},
			MemoryStatsSet: &wire.CWStatsSet{Min: 64, Max: 64, Sum: 20 * 64, SampleCount: 20},
			NetworkStatsSet: &wire.NetworkStatsSet{
				RxBytes: &wire.ULongStatsSet{Sum: 1000, SampleCount: 20}, TxBytes: &wire.ULongStatsSet{Sum: 500, SampleCount: 20},
			},
		})
	}
	return tm
}

func health(instance, messageID string, tasks ...wire.TaskHealth) *wire.PublishHealthRequest {
	return &wire.PublishHealthRequest{
		Metadata:  &wire.HealthMetadata{Cluster: cluster, ContainerInstance: instance, MessageID: messageID, Fin: true},
		Tasks:     tasks,
		Timestamp: wire.At(time.Now()),
	}
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
