package acsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// fuzzMaxMessage is the read limit of the fuzzed server, small so that
// inputs reach it.
const fuzzMaxMessage = 4 << 10

// sessionBound is what one connection may allocate on both ends: the
// upgrade, the client's and the server's websocket buffers (4 KiB and
// 32 KiB), and each frame read and decoded. A connection that sends the
// seed corpus's frames needs about 100 KiB.
var sessionBound = fuzzbound.Bound{Fixed: 512 << 10, PerByte: 64}

// received is one message the server passed on.
type received struct {
	arn string
	msg any
}

// FuzzSessionFrames opens an ACS session to the control plane's server and
// sends frames (one per line of the input), then a probe. Each frame that
// decodes, except heartbeat acknowledgements, reaches OnMessage once, in
// order, as decoded, with the session's instance; frames that do not
// decode are dropped and the session goes on, so the probe arrives. A frame
// over the read limit closes the session with 1009 (message too big), and
// nothing after it is passed on.
func FuzzSessionFrames(f *testing.F) {
	got := make(chan received, 1024)
	srv := New(Options{
		Registry:        acceptAll{},
		MaxMessageBytes: fuzzMaxMessage,
		OnMessage:       func(arn string, msg any) { got <- received{arn, msg} },
	})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", srv)
	hs := httptest.NewServer(mux)
	f.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	var n atomic.Int64
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?clusterArn=default&containerInstanceArn="

	f.Fuzz(func(t *testing.T, input []byte) {
		frames := bytes.Split(input, []byte("\n"))
		fuzzbound.Check(t, sessionBound, len(input), func() {
			arn := fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:container-instance/default/fuzz%d", n.Add(1))
			exchange(t, url+arn, arn, frames, got)
			// The server unregisters the session just after its close.
			await(t, "the session to end", func() bool { return !srv.Connected(arn) })
		})
	})
}

// exchange sends frames and the probe on a new session of arn and checks
// what the server passed on.
func exchange(t *testing.T, url, arn string, frames [][]byte, got <-chan received) {
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	defer ws.Close()
	probe := wire.AckRequest{MessageID: "probe-" + arn}
	probeFrame, _ := wire.Encode(probe)

	var want []any
	tooBig := false
	for _, fr := range frames {
		if len(fr) > fuzzMaxMessage {
			// The server may close before it has read all of it.
			_ = ws.WriteMessage(websocket.TextMessage, fr)
			tooBig = true
			break
		}
		if err := ws.WriteMessage(websocket.TextMessage, fr); err != nil {
			t.Fatalf("write: %v", err)
		}
		msg, err := wire.Decode(fr)
		if _, ack := msg.(*wire.HeartbeatAckRequest); err == nil && !ack {
			want = append(want, msg)
		}
	}
	if tooBig {
		// The server answers 1009 and goes; wait for its close frame.
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := ws.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("a frame over the limit: want close 1009, got %v", err)
		}
	} else {
		if err := ws.WriteMessage(websocket.TextMessage, probeFrame); err != nil {
			t.Fatalf("write probe: %v", err)
		}
		want = append(want, &probe)
	}
	for i, w := range want {
		select {
		case r := <-got:
			if r.arn != arn || !reflect.DeepEqual(r.msg, w) {
				t.Fatalf("message %d: got %#v from %s, want %#v from %s", i, r.msg, r.arn, w, arn)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d of %d (%T) did not arrive", i, len(want), w)
		}
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	// Wait for the server's side to end, so that nothing of this session
	// reaches the next input.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) && !tooBig {
				t.Fatalf("the session did not close: %v", err)
			}
			break
		}
	}
	select {
	case r := <-got:
		t.Fatalf("an extra message: %#v", r.msg)
	default:
	}
}

// acceptAll is a Registry that knows every instance.
type acceptAll struct{}

func (acceptAll) CheckInstance(context.Context, authz.Principal, string, string) error { return nil }
func (acceptAll) SetAgentConnected(context.Context, string, bool) error                { return nil }
