package dockerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// inspectBound is what one inspect may allocate: the request, and the
// response decoded by the Docker client into its inspect document (a
// large struct of maps and pointers) and converted. The inspect documents
// of the seed corpus, from the real engine, need about 5 bytes per byte.
var inspectBound = fuzzbound.Bound{Fixed: 64 << 10, PerByte: 32}

// eventsBound is what reading an event stream may allocate: each message
// decoded by the Docker client and converted. The real stream of the seed
// corpus needs about 4 bytes per byte.
var eventsBound = fuzzbound.Bound{Fixed: 64 << 10, PerByte: 32}

// FuzzInspectContainer serves an inspect response (a status and a body) to
// InspectContainer through the Docker client, as the engine reads it for
// every container it manages. An answer of 400 or more is an error, a 404
// one that matches runtime.ErrNotFound; another body (the Docker client
// takes any status below 400 as success) is either refused by the decoder
// or converted into a Container that keeps Docker's identity, state,
// labels and published ports.
func FuzzInspectContainer(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = min(max(status, 200), 599)
		c := stubClient(t, func(r *http.Request) (int, []byte) {
			if !strings.HasSuffix(r.URL.Path, "/containers/fuzz/json") {
				return http.StatusNotImplemented, nil
			}
			return status, body
		})
		var got runtime.Container
		var err error
		fuzzbound.Check(t, inspectBound, len(body), func() { got, err = c.InspectContainer(context.Background(), "fuzz") })
		if status >= http.StatusBadRequest {
			if err == nil {
				t.Fatalf("HTTP %d inspected as %+v", status, got)
			}
			if status == http.StatusNotFound && !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("a 404 is not ErrNotFound: %v", err)
			}
			return
		}
		// The Docker client reads the first JSON value of the body.
		var want container.InspectResponse
		if json.NewDecoder(bytes.NewReader(body)).Decode(&want) != nil {
			if err == nil {
				t.Fatalf("a body that does not decode was inspected as %+v", got)
			}
			return
		}
		if err != nil {
			t.Fatalf("a body that decodes was refused: %v", err)
		}
		checkInspected(t, want, got)
	})
}

func checkInspected(t *testing.T, want container.InspectResponse, got runtime.Container) {
	t.Helper()
	if b := want.ContainerJSONBase; b != nil {
		if got.ID != b.ID || got.Name != strings.TrimPrefix(b.Name, "/") {
			t.Fatalf("identity %q %q != %q %q", got.ID, got.Name, b.ID, b.Name)
		}
		if s := b.State; s != nil && (got.State != s.Status || got.ExitCode != s.ExitCode || got.OOMKilled != s.OOMKilled) {
			t.Fatalf("state %q %d %t != %q %d %t", got.State, got.ExitCode, got.OOMKilled, s.Status, s.ExitCode, s.OOMKilled)
		}
	}
	if want.Config != nil && len(got.Labels) != len(want.Config.Labels) {
		t.Fatalf("%d labels != %d", len(got.Labels), len(want.Config.Labels))
	}
	published := 0
	if ns := want.NetworkSettings; ns != nil {
		for port, bindings := range ns.Ports {
			for _, b := range bindings {
				hp, err := strconv.ParseUint(b.HostPort, 10, 16)
				if err != nil || hp == 0 {
					continue
				}
				published++
				found := false
				for _, p := range got.Ports {
					found = found || (int(p.ContainerPort) == port.Int() && p.HostPort == uint16(hp) && p.Protocol == port.Proto())
				}
				if !found {
					t.Fatalf("binding %s -> %s is missing or changed: %+v", port, b.HostPort, got.Ports)
				}
			}
		}
	}
	if len(got.Ports) > published {
		t.Fatalf("%d ports from %d published bindings: %+v", len(got.Ports), published, got.Ports)
	}
	for _, tm := range []time.Time{got.CreatedAt, got.StartedAt, got.FinishedAt} {
		if !tm.IsZero() && tm.Year() <= 1 {
			t.Fatalf("a never time is not zero: %v", tm)
		}
	}
}

// FuzzEvents serves an event stream (Docker sends one JSON message after
// another) to Events through the Docker client. Every message that decodes
// becomes one event, in order, with its container, normalised action,
// health and exit code, and every label; the end of the stream, or the
// first message that does not decode, ends it with an error.
func FuzzEvents(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := stubClient(t, func(r *http.Request) (int, []byte) {
			if !strings.HasSuffix(r.URL.Path, "/events") {
				return http.StatusNotImplemented, nil
			}
			return http.StatusOK, stream
		})
		var got []runtime.Event
		var end error
		fuzzbound.Check(t, eventsBound, len(stream), func() {
			got, end = nil, nil
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			evs, errc := c.Events(ctx)
			for ev := range evs {
				got = append(got, ev)
			}
			end = <-errc
		})
		var want []events.Message
		dec := json.NewDecoder(bytes.NewReader(stream))
		for {
			var m events.Message
			if dec.Decode(&m) != nil {
				break
			}
			want = append(want, m)
		}
		if end == nil {
			t.Fatal("the stream ended without an error")
		}
		if len(got) != len(want) {
			t.Fatalf("%d events from %d messages", len(got), len(want))
		}
		for i := range want {
			checkEvent(t, want[i], got[i])
		}
	})
}

func checkEvent(t *testing.T, m events.Message, ev runtime.Event) {
	t.Helper()
	action, detail, hasDetail := strings.Cut(string(m.Action), ":")
	if ev.ContainerID != m.Actor.ID || ev.Action != action {
		t.Fatalf("event %q %q from %q %q", ev.ContainerID, ev.Action, m.Actor.ID, m.Action)
	}
	if action == runtime.EventHealth && hasDetail && ev.Health != strings.TrimSpace(detail) {
		t.Fatalf("health %q from %q", ev.Health, m.Action)
	}
	if action == runtime.EventDie {
		code, err := strconv.Atoi(m.Actor.Attributes["exitCode"])
		if (err == nil) != (ev.ExitCode != nil) || (err == nil && *ev.ExitCode != code) {
			t.Fatalf("exit code %v from %q", ev.ExitCode, m.Actor.Attributes["exitCode"])
		}
	}
	for k, v := range m.Actor.Attributes {
		if !eventAttributes[k] && ev.Labels[k] != v {
			t.Fatalf("label %q is %q, not %q", k, ev.Labels[k], v)
		}
	}
}

// stubClient is a Client whose engine is answer, in this process: no
// socket, no engine, the real Docker client's encoding and decoding.
func stubClient(t *testing.T, answer func(*http.Request) (int, []byte)) *Client {
	t.Helper()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		status, body := answer(r)
		h := http.Header{"Content-Type": []string{"application/json"}, "Api-Version": []string{"1.41"}}
		return &http.Response{StatusCode: status, Header: h, Request: r,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
	})}
	dc, err := client.NewClientWithOpts(client.WithHost("tcp://docker.fuzz:2375"), client.WithHTTPClient(hc), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	return &Client{c: dc, stream: dc, endpoint: "tcp://docker.fuzz:2375"}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzStatsFrom feeds one stats sample to statsFrom, as StreamStats and
// StatsOnce do for every sample Docker sends. Whenever the fast path
// (scanStats) answers, encoding/json (decodeStats) must give the same
// stats; statsFrom never allocates much beyond what encoding/json needs.
// The seeds are Docker's own samples (cgroup v1 from Docker 20.10 on this
// project's test host, cgroup v2 shaped as Docker 24 sends it) and the
// cases the fast path hands over.
func FuzzStatsFrom(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzbound.Check(t, statsBound, len(raw), func() { _, _ = statsFrom(raw) })
		fast, ok := scanStats(raw)
		if !ok {
			return
		}
		want, err := decodeStats(raw)
		if err != nil {
			t.Fatalf("the fast path read %+v where encoding/json refuses: %v", fast, err)
		}
		assertSameStats(t, want, fast)
	})
}

// statsBound is what decoding one sample may allocate: nothing on the fast
// path; encoding/json's own decode of statsJSON otherwise.
var statsBound = fuzzbound.Bound{Fixed: 16 << 10, PerByte: 16}

// assertSameStats fails unless got equals want, times by instant and zone
// offset (two decodes of one offset make two equal zones, not one).
func assertSameStats(t *testing.T, want, got runtime.ContainerStats) {
	t.Helper()
	_, wantOffset := want.Read.Zone()
	_, gotOffset := got.Read.Zone()
	if !want.Read.Equal(got.Read) || wantOffset != gotOffset {
		t.Fatalf("read: fast path %v, encoding/json %v", got.Read, want.Read)
	}
	want.Read, got.Read = time.Time{}, time.Time{}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("fast path %+v\nencoding/json %+v", got, want)
	}
}
