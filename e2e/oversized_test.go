package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"
)

// The websocket read limits on both ends of ACS, tried with the real
// binaries: a frame over the limit closes the connection instead of being
// buffered, and the reader carries on.

// TestE2EOversizedFrameToTheControlPlane: a 2 MiB frame on an instance's
// ACS session (the control plane accepts at most 1 MiB from an agent)
// closes that session with 1009 (message too big); the control plane keeps
// serving and the real agent on the instance stays connected.
func TestE2EOversizedFrameToTheControlPlane(t *testing.T) {
	requireTools(t, "docker")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "oversized")
	a := newAgent(t, cp, "oversized")
	a.start(t)
	arn := a.awaitMetadata(t).ContainerInstanceArn

	q := url.Values{}
	q.Set("clusterArn", "oversized")
	q.Set("containerInstanceArn", arn)
	q.Set("agentVersion", "e2e")
	q.Set("protocolVersion", "2")
	q.Set("seqNum", "1")
	q.Set("sendCredentials", "false")
	ws := dialSigned(t, "http://"+cp.addr+"/ws?"+q.Encode())
	defer ws.Close()

	big := `{"type":"AckRequest","message":{"messageId":"` + strings.Repeat("x", 2<<20) + `"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	var closeErr *websocket.CloseError
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue // heartbeats sent before the close
		}
		if !errors.As(err, &closeErr) {
			t.Fatalf("the control plane did not close the session with a close frame: %v", err)
		}
		break
	}
	if closeErr.Code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d (%s), want %d (message too big)", closeErr.Code, closeErr.Text, websocket.CloseMessageTooBig)
	}
	ci := cp.awaitInstance(t, "oversized", "the agent still connected", func(ci containerInstance) bool {
		return ci.AgentConnected
	})
	if ci.ContainerInstanceArn != arn {
		t.Fatalf("instance %s, want %s", ci.ContainerInstanceArn, arn)
	}
}

// TestE2EOversizedFrameToTheAgent: the real agent against a stub backend
// whose ACS endpoint sends one 64 MiB frame (before the limit, one such
// frame took the agent from 21 MB to 243 MB of RSS). The agent closes the
// connection at the frame's header, never holds the frame (its peak RSS
// stays far below 64 MiB), stays up and connects again.
func TestE2EOversizedFrameToTheAgent(t *testing.T) {
	requireTools(t, "docker")
	t.Parallel()
	const frameBytes = 64 << 20
	var dials atomic.Int32
	stub := newStubBackend(t, func(w http.ResponseWriter, r *http.Request) {
		n := dials.Add(1)
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if n == 1 {
			// The agent closes after the frame's header: the write of
			// the rest fails, which is the point.
			_ = ws.WriteMessage(websocket.TextMessage, make([]byte, frameBytes))
		}
		// Hold the connection until the agent goes.
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	a := newAgentAt(t, stub.URL, "default")
	a.start(t)
	waitFor(t, 60*time.Second, "the agent to dial ACS again after the oversized frame", func() bool {
		if a.proc.exited() {
			t.Fatalf("the agent exited: %v\n%s", a.proc.err, a.proc.out.String())
		}
		return dials.Load() >= 2
	})
	peak := peakRSS(t, a.proc.cmd.Process.Pid)
	if peak >= frameBytes/2 {
		t.Fatalf("the agent's peak RSS is %d MiB: it buffered the %d MiB frame", peak>>20, frameBytes>>20)
	}
	t.Logf("agent peak RSS %d MiB", peak>>20)
}

// newAgentAt is newAgent for a backend that is not a controlPlane.
func newAgentAt(t *testing.T, endpoint, cluster string) *agent {
	t.Helper()
	return newAgent(t, &controlPlane{endpoint: endpoint}, cluster)
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// dialSigned opens a websocket to u (http URL) with the upgrade signed by
// the test credentials, as an agent signs it.
func dialSigned(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: testCreds.accessKey, SecretAccessKey: testCreds.secretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	h := req.Header.Clone()
	h.Del("Host")
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(u, "http"), h)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial %s: %v %s", u, err, body)
	}
	return ws
}

// stubBackend answers the few ECS API calls an agent makes at start-up
// (RegisterContainerInstance, DiscoverPollEndpoint) and hands its ACS
// websocket to acs; everything else is an error the agent retries.
type stubBackend struct{ *httptest.Server }

func newStubBackend(t *testing.T, acs http.HandlerFunc) *stubBackend {
	t.Helper()
	s := &stubBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", acs)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113."); op {
		case "RegisterContainerInstance":
			_ = json.NewEncoder(w).Encode(map[string]any{"containerInstance": map[string]any{
				"containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef0123456789abcdef",
				"status":               "ACTIVE",
				"attributes":           in["attributes"],
			}})
		case "DiscoverPollEndpoint":
			_ = json.NewEncoder(w).Encode(map[string]any{"endpoint": s.URL, "telemetryEndpoint": s.URL + "/tcs"})
		default:
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException", "message": op})
		}
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}
