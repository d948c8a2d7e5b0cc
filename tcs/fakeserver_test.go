package tcs

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/sigv4"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const (
	testInstanceARN = "arn:aws:ecs:us-west-2:123456789012:container-instance/default/0123456789abcdef"
	testEndpoint    = "https://ecs-t-1.us-west-2.amazonaws.com"
	testAKID        = "AKIDEXAMPLE"
	testSecret      = "secret"
	testToken       = "token"
)

var testCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret, SessionToken: testToken, Source: "test"}, nil
})

// testVerifier checks signatures as the control plane's TCS server must.
func testVerifier() *sigv4.Verifier {
	return &sigv4.Verifier{
		Service: "ecs", Region: "us-west-2",
		Credentials: sigv4.StaticCredentials{testAKID: {SecretAccessKey: testSecret, SessionToken: testToken}},
	}
}

// dialAttempt records one call of the fake dialer.
type dialAttempt struct {
	url    string
	header http.Header
	at     time.Time
}

// fakeTCS is a scripted dialer: each attempt takes the next result from
// results (nil means accept and hand the server end to accepted).
type fakeTCS struct {
	mu       sync.Mutex
	attempts []dialAttempt
	results  []error
	accepted chan *serverEnd
}

// serverEnd is the server side of one accepted connection.
type serverEnd struct {
	*memConn
	url *url.URL // the upgrade URL, as the server sees it
}

func newFakeTCS(results ...error) *fakeTCS {
	return &fakeTCS{results: results, accepted: make(chan *serverEnd, 16)}
}

func (f *fakeTCS) dial(_ context.Context, u string, h http.Header) (wsConn, error) {
	f.mu.Lock()
	f.attempts = append(f.attempts, dialAttempt{url: u, header: h, at: time.Now()})
	var err error
	if len(f.results) > 0 {
		err, f.results = f.results[0], f.results[1:]
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	parsed, perr := url.Parse(u)
	if perr != nil {
		return nil, perr
	}
	client, server := memPair()
	f.accepted <- &serverEnd{memConn: server, url: &url.URL{Path: parsed.Path, RawQuery: parsed.RawQuery}}
	return client, nil
}

func (f *fakeTCS) dials() []dialAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dialAttempt(nil), f.attempts...)
}

// read reads one frame from the agent, verifies its SigV4 signature against
// the session URL and decodes it. A close frame returns the close error.
func (s *serverEnd) read(t *testing.T) (any, error) {
	t.Helper()
	_, frame, err := s.ReadMessage()
	if err != nil {
		return nil, err
	}
	req, env, err := wire.FrameRequest(frame, s.url)
	require.NoError(t, err, "every agent frame is signed")
	_, err = testVerifier().Verify(req, env)
	require.NoError(t, err, "the frame's signature verifies against the session URL")
	msg, err := wire.Decode(env)
	require.NoError(t, err)
	return msg, nil
}

// readRound reads one publish round's messages up to and including the
// PublishInstanceStatusRequest.
func (s *serverEnd) readRound(t *testing.T) []any {
	t.Helper()
	var out []any
	for {
		msg, err := s.read(t)
		require.NoError(t, err)
		out = append(out, msg)
		if _, ok := msg.(*wire.PublishInstanceStatusRequest); ok {
			return out
		}
	}
}

// send writes a plain envelope to the agent, as TCS does.
func (s *serverEnd) send(t *testing.T, msg any) {
	t.Helper()
	frame, err := wire.Encode(msg)
	require.NoError(t, err)
	require.NoError(t, s.WriteMessage(websocket.TextMessage, frame))
}

// fakeMetrics returns the task metrics set by the test.
type fakeMetrics struct {
	mu    sync.Mutex
	tasks []wire.TaskMetric
	calls int
}

func (f *fakeMetrics) TaskMetrics() []wire.TaskMetric {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.tasks
}

// fakeTasks returns the snapshot set by the test.
type fakeTasks struct {
	mu   sync.Mutex
	snap []engine.TaskSnapshot
}

func (f *fakeTasks) Snapshot() []engine.TaskSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeTasks) set(s ...engine.TaskSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

func newTestSession(f *fakeTCS, mut func(*Options)) *Session {
	o := Options{
		DiscoverEndpoint:     func(context.Context) (string, error) { return testEndpoint, nil },
		Cluster:              "default",
		ContainerInstanceARN: testInstanceARN,
		AgentVersion:         "0.1.0",
		AgentHash:            "abc123",
		DockerVersion:        "20.10.24",
		Region:               "us-west-2",
		Credentials:          testCreds,
		Metrics:              &fakeMetrics{},
		Tasks:                &fakeTasks{},
		Checks:               []Check{{Type: StatusTypeAgent, Probe: func(context.Context) error { return nil }}},
		HeartbeatTimeout:     45 * time.Second, // not the default: no jitter
		MaxLifetime:          time.Hour,
		BackoffMin:           time.Second,
		BackoffMax:           time.Minute,
	}
	if mut != nil {
		mut(&o)
	}
	s := NewSession(o)
	s.dial = f.dial
	return s
}

// running starts Run and returns a stop function that cancels it and
// returns Run's result.
func running(t *testing.T, s *Session) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	return func() error { cancel(); return <-ch }
}
