package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// stubError is a canned ECS error response.
type stubError struct {
	status int
	code   string
}

// ecsStub is a minimal awsJson1_1 ECS backend: enough of
// RegisterContainerInstance, CreateCluster and DiscoverPollEndpoint to
// exercise the agent's registration logic. The lead's end-to-end tests use
// the real control plane.
type ecsStub struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	clusters  map[string]bool
	rciErrs   []stubError // returned, in order, before RCI succeeds
	rci       []map[string]any
	created   []string
	dpe       int
	dpeErr    *stubError
	echoAttrs bool   // echo the sent attributes plus the AZ, as ECS does
	dropAttr  string // leave this attribute out of the echo
	nextARN   int
	userAgent string
	stsc      []map[string]any
	acs       http.Handler // serves /ws when set
	tcs       http.Handler // serves /tcs/ws (the telemetryEndpoint's) when set
}

func newECSStub(t *testing.T) *ecsStub {
	s := &ecsStub{t: t, clusters: map[string]bool{"default": true}, echoAttrs: true}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ecsStub) URL() string { return s.srv.URL }

func (s *ecsStub) writeErr(w http.ResponseWriter, e stubError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `{"__type":%q,"message":"stub says %s"}`, e.code, e.code)
}

func (s *ecsStub) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *ecsStub) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	acs, tcs := s.acs, s.tcs
	s.mu.Unlock()
	if acs != nil && r.URL.Path == "/ws" {
		acs.ServeHTTP(w, r)
		return
	}
	if tcs != nil && r.URL.Path == "/tcs/ws" {
		tcs.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		http.NotFound(w, r) // includes the ACS websocket path: the session just backs off
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.writeErr(w, stubError{400, "MissingAuthenticationToken"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.userAgent = r.Header.Get("User-Agent")
	switch op {
	case "RegisterContainerInstance":
		s.rci = append(s.rci, in)
		if len(s.rciErrs) > 0 {
			e := s.rciErrs[0]
			s.rciErrs = s.rciErrs[1:]
			s.writeErr(w, e)
			return
		}
		cluster, _ := in["cluster"].(string)
		if !s.clusters[cluster] {
			s.writeErr(w, stubError{400, "ClusterNotFoundException"})
			return
		}
		arn, _ := in["containerInstanceArn"].(string)
		if arn == "" {
			s.nextARN++
			arn = fmt.Sprintf("arn:aws:ecs:us-west-2:123456789012:container-instance/%s/%032x", cluster, s.nextARN)
		}
		var attrs []any
		if s.echoAttrs {
			for _, a := range asSlice(in["attributes"]) {
				if m, _ := a.(map[string]any); m["name"] != s.dropAttr {
					attrs = append(attrs, a)
				}
			}
			attrs = append(attrs, map[string]any{"name": "ecs.availability-zone", "value": "us-west-2b"})
		}
		s.writeJSON(w, map[string]any{"containerInstance": map[string]any{
			"containerInstanceArn": arn, "attributes": attrs, "status": "ACTIVE",
		}})
	case "CreateCluster":
		name, _ := in["clusterName"].(string)
		s.created = append(s.created, name)
		s.clusters[name] = true
		s.writeJSON(w, map[string]any{"cluster": map[string]any{"clusterName": name, "status": "ACTIVE"}})
	case "DiscoverPollEndpoint":
		s.dpe++
		if s.dpeErr != nil {
			s.writeErr(w, *s.dpeErr)
			return
		}
		s.writeJSON(w, map[string]any{"endpoint": s.srv.URL, "telemetryEndpoint": s.srv.URL + "/tcs"})
	case "SubmitTaskStateChange":
		s.stsc = append(s.stsc, in)
		s.writeJSON(w, map[string]any{"acknowledgment": "ok"})
	default:
		s.writeErr(w, stubError{400, "UnknownOperationException"})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func (s *ecsStub) registrations() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.rci...)
}

// isolateAWS keeps the SDK away from the real environment: static test
// credentials, no shared config files, and IMDS disabled so nothing ever
// reaches 169.254.169.254.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
}

func testECSClient(t *testing.T, endpoint string) ecsAPI {
	isolateAWS(t)
	awsCfg, err := newAWSConfig(t.Context(), "us-west-2", "http://127.0.0.1:1", false)
	require.NoError(t, err)
	return newECSClient(awsCfg, endpoint)
}

var fastPolicy = retryPolicy{min: time.Millisecond, max: 5 * time.Millisecond, budget: 10 * time.Second}

func writeMemInfo(t *testing.T, totalKB int) string {
	p := filepath.Join(t.TempDir(), "meminfo")
	require.NoError(t, os.WriteFile(p, fmt.Appendf(nil,
		"MemTotal:       %d kB\nMemFree:         1000 kB\n", totalKB), 0o600))
	return p
}

func attrNames(in map[string]any) map[string]string {
	out := map[string]string{}
	for _, a := range asSlice(in["attributes"]) {
		m := a.(map[string]any)
		v, _ := m["value"].(string)
		out[m["name"].(string)] = v
	}
	return out
}

// contextCancelledAfterRequests returns a context that is cancelled once the
// stub has seen n RegisterContainerInstance calls.
func contextCancelledAfterRequests(t *testing.T, s *ecsStub, n int) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if len(s.registrations()) >= n {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}

func (s *ecsStub) dpeCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dpe
}

func (s *ecsStub) createdClusters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.created...)
}

func (s *ecsStub) lastUserAgent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userAgent
}

// set changes the stub's behaviour under its lock.
func (s *ecsStub) set(f func(s *ecsStub)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func (s *ecsStub) stateChanges() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.stsc...)
}
