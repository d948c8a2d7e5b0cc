package statechange

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
)

const waitFor = 10 * time.Second

// fakeSource is an engine that holds one report per task; MarkReported
// removes the report if the version matches (an older version leaves the
// newer report in place, as the engine does).
type fakeSource struct {
	mu      sync.Mutex
	reports map[string]engine.TaskReport
	marked  []string // "arn@version"
	markErr error
	changed chan struct{}
	scans   atomic.Int64 // Reports calls
}

func newFakeSource() *fakeSource {
	return &fakeSource{reports: map[string]engine.TaskReport{}, changed: make(chan struct{}, 1)}
}

func (f *fakeSource) put(r engine.TaskReport) {
	f.mu.Lock()
	f.reports[r.TaskARN] = r
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeSource) Reports() []engine.TaskReport {
	f.scans.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]engine.TaskReport, 0, len(f.reports))
	for _, r := range f.reports {
		out = append(out, r)
	}
	return out
}

func (f *fakeSource) ReportsChanged() <-chan struct{} { return f.changed }

func (f *fakeSource) MarkReported(_ context.Context, arn string, version uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.markErr != nil {
		return f.markErr
	}
	f.marked = append(f.marked, fmt.Sprintf("%s@%d", arn, version))
	if r, ok := f.reports[arn]; ok && r.Version <= version {
		delete(f.reports, arn)
	}
	return nil
}

func (f *fakeSource) markedList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.marked...)
}

// ecsServer is an httptest ECS endpoint that records SubmitTaskStateChange
// bodies and answers with the scripted errors first.
type ecsServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	bodies   []map[string]any
	failures map[string][]string // task ARN -> error codes to return, in order
	block    chan struct{}       // if set, requests wait on it
	inFlight int
	maxSeen  int
}

func newECSServer(t *testing.T) *ecsServer {
	s := &ecsServer{failures: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ecsServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if got := r.Header.Get("X-Amz-Target"); got != "AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":%q}`, got)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, in)
	s.inFlight++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	block := s.block
	arn, _ := in["task"].(string)
	var code string
	if f := s.failures[arn]; len(f) > 0 {
		code, s.failures[arn] = f[0], f[1:]
	}
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if code != "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"message":"scripted failure"}`, code)
		return
	}
	fmt.Fprint(w, `{"acknowledgment":"ok"}`)
}

func (s *ecsServer) requests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

func (s *ecsServer) client() *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       "us-west-2",
		BaseEndpoint: aws.String(s.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func startSubmitter(t *testing.T, src Source, api API, tweak func(*Options)) {
	o := Options{Source: src, API: api, Cluster: "prod", Tick: time.Hour,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	if tweak != nil {
		tweak(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(o).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestSubmitsReportAndMarksItReported(t *testing.T) {
	srv := newECSServer(t)
	src := newFakeSource()
	pulled := time.Unix(1700000000, 0).UTC()
	src.put(engine.TaskReport{
		TaskARN: "arn:task/1", Version: 3, Status: engine.StatusStopped,
		Reason:        strings.Repeat("é", 600), // 1200 bytes: cut to 1024 on a rune boundary
		PullStartedAt: &pulled, PullStoppedAt: &pulled, ExecutionStoppedAt: &pulled,
		Containers: []engine.ContainerReport{{
			Name: "web", RuntimeID: "abc123", ImageDigest: "sha256:d", Status: engine.StatusStopped,
			ExitCode: ptr(137), Reason: "OutOfMemoryError",
			NetworkBindings: []engine.NetworkBinding{
				{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"},
				{BindIP: "0.0.0.0", Protocol: "udp", ContainerPortRange: "9000-9001", HostPortRange: "50000-50001"},
			},
		}},
	})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"arn:task/1@3"}, src.markedList())
	reqs := srv.requests()
	require.Len(t, reqs, 1)
	in := reqs[0]
	assert.Equal(t, "prod", in["cluster"])
	assert.Equal(t, "arn:task/1", in["task"])
	assert.Equal(t, "STOPPED", in["status"])
	assert.Equal(t, strings.Repeat("é", 512), in["reason"]) // 1024 bytes
	assert.EqualValues(t, 1700000000, in["pullStartedAt"])
	assert.EqualValues(t, 1700000000, in["executionStoppedAt"])
	c := in["containers"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{
		"containerName": "web", "runtimeId": "abc123", "imageDigest": "sha256:d", "status": "STOPPED",
		"exitCode": float64(137), "reason": "OutOfMemoryError",
		"networkBindings": []any{
			map[string]any{"bindIP": "0.0.0.0", "containerPort": float64(80), "hostPort": float64(49153), "protocol": "tcp"},
			map[string]any{"bindIP": "0.0.0.0", "protocol": "udp", "containerPortRange": "9000-9001", "hostPortRange": "50000-50001"},
		},
	}, c)
}

func TestRetriesWithBackoffUntilAccepted(t *testing.T) {
	srv := newECSServer(t)
	srv.failures["arn:task/1"] = []string{"ServerException", "ThrottlingException", "ServerException"}
	src := newFakeSource()
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
	assert.Len(t, srv.requests(), 4)
}

func TestInvalidParameterIsDropped(t *testing.T) {
	srv := newECSServer(t)
	srv.failures["arn:task/bad"] = []string{"InvalidParameterException"}
	src := newFakeSource()
	src.put(engine.TaskReport{TaskARN: "arn:task/bad", Version: 2, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"arn:task/bad@2"}, src.markedList())
	assert.Len(t, srv.requests(), 1)
}

func TestSendsTheNewestReportAfterAChangeInFlight(t *testing.T) {
	srv := newECSServer(t)
	srv.block = make(chan struct{})
	src := newFakeSource()
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(srv.requests()) == 1 }, waitFor, time.Millisecond)
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 2, Status: engine.StatusStopped})
	close(srv.block)

	require.Eventually(t, func() bool { return len(src.markedList()) == 2 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"arn:task/1@1", "arn:task/1@2"}, src.markedList())
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "RUNNING", reqs[0]["status"])
	assert.Equal(t, "STOPPED", reqs[1]["status"])
}

func TestBoundsConcurrentSends(t *testing.T) {
	srv := newECSServer(t)
	srv.block = make(chan struct{})
	src := newFakeSource()
	const n = 25
	for i := range n {
		src.put(engine.TaskReport{TaskARN: fmt.Sprintf("arn:task/%02d", i), Version: 1, Status: engine.StatusRunning})
	}
	startSubmitter(t, src, srv.client(), func(o *Options) { o.Concurrency = 4 })

	require.Eventually(t, func() bool { return len(srv.requests()) == 4 }, waitFor, time.Millisecond)
	close(srv.block)
	require.Eventually(t, func() bool { return len(src.markedList()) == n }, waitFor, time.Millisecond)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	assert.Equal(t, 4, srv.maxSeen)
	assert.Len(t, srv.bodies, n)
}

func TestSafetyTickPicksUpUnsignalledReports(t *testing.T) {
	srv := newECSServer(t)
	src := newFakeSource()
	startSubmitter(t, src, srv.client(), func(o *Options) { o.Tick, o.TickJitter = 5*time.Millisecond, time.Millisecond })
	// Added without a signal: only the tick can find it.
	src.mu.Lock()
	src.reports["arn:task/quiet"] = engine.TaskReport{TaskARN: "arn:task/quiet", Version: 1, Status: engine.StatusRunning}
	src.mu.Unlock()
	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
}

func TestMarkReportedFailureResends(t *testing.T) {
	srv := newECSServer(t)
	src := newFakeSource()
	src.markErr = fmt.Errorf("disk full")
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(srv.requests()) >= 2 }, waitFor, time.Millisecond)
	src.mu.Lock()
	src.markErr = nil
	src.mu.Unlock()
	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
}

func TestTruncateKeepsUTF8(t *testing.T) {
	assert.Equal(t, "abc", truncate("abc", 5))
	assert.Equal(t, "ab", truncate("abcdef", 2))
	assert.Equal(t, "a", truncate("aé", 2)) // é is 2 bytes: not split
	assert.Empty(t, truncate("é", 1))
}

// stickySource keeps reports after MarkReported, like an engine that drops
// them a little later; the submitter must not resend an accepted version.
type stickySource struct{ *fakeSource }

func (s stickySource) MarkReported(_ context.Context, arn string, version uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marked = append(s.marked, fmt.Sprintf("%s@%d", arn, version))
	return nil
}

func TestAcceptedVersionIsNotResent(t *testing.T) {
	srv := newECSServer(t)
	src := stickySource{newFakeSource()}
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), func(o *Options) { o.Tick, o.TickJitter = time.Millisecond, time.Millisecond })

	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
	// Several scans later the same version has still been sent once; a
	// newer one goes out.
	scans := src.scans.Load()
	require.Eventually(t, func() bool { return src.scans.Load() >= scans+5 }, waitFor, time.Millisecond)
	assert.Len(t, srv.requests(), 1)
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 2, Status: engine.StatusStopped})
	require.Eventually(t, func() bool { return len(src.markedList()) == 2 }, waitFor, time.Millisecond)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "STOPPED", reqs[1]["status"])
}

func TestRunReturnsWithSendsInFlight(t *testing.T) {
	srv := newECSServer(t)
	srv.block = make(chan struct{})
	t.Cleanup(func() { close(srv.block) }) // let the server's handlers end before it closes
	src := newFakeSource()
	src.put(engine.TaskReport{TaskARN: "arn:task/1", Version: 1, Status: engine.StatusRunning})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- New(Options{Source: src, API: srv.client(), Cluster: "prod", Tick: time.Hour}).Run(ctx)
	}()
	require.Eventually(t, func() bool { return len(srv.requests()) == 1 }, waitFor, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Run did not return while a send was blocked")
	}
	assert.Empty(t, src.markedList(), "an unconfirmed send is not marked reported")
}

func TestPendingReportsAreNotSent(t *testing.T) {
	srv := newECSServer(t)
	src := newFakeSource()
	src.put(engine.TaskReport{TaskARN: "arn:task/pending", Version: 3, Status: engine.StatusPending})
	src.put(engine.TaskReport{TaskARN: "arn:task/running", Version: 4, Status: engine.StatusRunning})
	startSubmitter(t, src, srv.client(), nil)

	require.Eventually(t, func() bool { return len(src.markedList()) == 1 }, waitFor, time.Millisecond)
	assert.Equal(t, []string{"arn:task/running@4"}, src.markedList())

	src.put(engine.TaskReport{TaskARN: "arn:task/pending", Version: 4, Status: engine.StatusRunning})
	require.Eventually(t, func() bool { return len(src.markedList()) == 2 }, waitFor, time.Millisecond)
	reqs := srv.requests()
	require.Len(t, reqs, 2, "only the RUNNING reports were sent")
	assert.Equal(t, "arn:task/pending", reqs[1]["task"])
}
