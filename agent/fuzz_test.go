package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// handlerBound is what handling one decoded frame may allocate: the
// queue, the sorted task list, the reply and the log lines. It does not
// grow with the tasks' content, which the handler passes on by pointer;
// a payload of the seed corpus needs about 4 KiB.
var handlerBound = fuzzbound.Bound{Fixed: 64 << 10, PerByte: 4}

// FuzzACSHandler feeds ACS frames, decoded as the session decodes them, to
// the agent's handler, with an engine that refuses the tasks that fail
// selects (bit i%8: the i-th task handed over). A valid payload hands every
// task with an ARN to the engine once, stops before the rest, and is
// acknowledged exactly when the engine took all of them (followed by one
// acknowledgement per role credential it kept); an invalid one is
// dropped without a word to ACS; task manifests and credentials are
// acknowledged with their IDs; nothing else is answered; and no secret
// access key or session token reaches the log.
func FuzzACSHandler(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte, fail uint8) {
		msg, err := wire.Decode(frame)
		if err != nil {
			return // FuzzDecode covers the decoder
		}
		var logs bytes.Buffer
		eng := &fuzzEngine{fail: fail}
		snd := &fuzzSender{}
		h := newACSHandler(eng, snd, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		ctx := t.Context()
		fuzzbound.Check(t, handlerBound, len(frame), func() {
			*eng, snd.sent = fuzzEngine{fail: fail}, nil
			logs.Reset()
			h.Handle(ctx, msg)
			// What Run does, on this goroutine.
			for m := h.next(); m != nil; m = h.next() {
				h.handlePayload(ctx, m)
			}
		})
		switch m := msg.(type) {
		case *wire.PayloadMessage:
			checkPayloadHandled(t, m, eng, snd.sent)
		case *wire.TaskManifestMessage:
			want := wire.AckRequest{Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID}
			checkSent(t, snd.sent, want)
		case *wire.IAMRoleCredentialsMessage:
			// Only a valid message is acknowledged, once the credentials
			// are kept (the store may still refuse them).
			if validateCredentialsMessage(m) != nil || len(snd.sent) == 0 {
				checkSent(t, snd.sent)
				break
			}
			c := m.RoleCredentials
			checkSent(t, snd.sent, wire.IAMRoleCredentialsAckRequest{
				MessageID: m.MessageID, CredentialsID: c.CredentialsID, Expiration: c.Expiration})
		default:
			checkSent(t, snd.sent)
		}
		if len(eng.added) > 0 {
			if _, ok := msg.(*wire.PayloadMessage); !ok {
				t.Fatalf("a %T handed tasks to the engine", msg)
			}
		}
		for _, secret := range secretsOf(msg) {
			if len(secret) >= 8 && bytes.Contains(logs.Bytes(), []byte(secret)) {
				t.Fatalf("the log holds the secret %q:\n%s", secret, logs.Bytes())
			}
		}
	})
}

func checkPayloadHandled(t *testing.T, m *wire.PayloadMessage, eng *fuzzEngine, sent []any) {
	t.Helper()
	if m.MessageID == "" || m.ClusterARN == "" || m.ContainerInstanceARN == "" {
		if len(eng.added) > 0 || len(sent) > 0 {
			t.Fatalf("an invalid payload reached the engine (%d tasks) or was answered (%v)", len(eng.added), sent)
		}
		return
	}
	var want []*wire.Task
	for i := range m.Tasks {
		if m.Tasks[i].ARN != "" {
			want = append(want, &m.Tasks[i])
		}
	}
	if len(eng.added) != len(want) {
		t.Fatalf("the engine got %d tasks; the payload has %d with an arn", len(eng.added), len(want))
	}
	for _, w := range want {
		if !slices.Contains(eng.added, w) {
			t.Fatalf("task %q was not handed over", w.ARN)
		}
	}
	for i := 1; i < len(eng.added); i++ {
		if eng.added[i].DesiredStatus == desiredStopped && eng.added[i-1].DesiredStatus != desiredStopped {
			t.Fatalf("task %d (STOPPED) was handed over after a task to run", i)
		}
	}
	if eng.failed > 0 {
		checkSent(t, sent)
		return
	}
	// The payload's AckRequest, then at most one credentials ack for each
	// role credential a handed-over task carried, with the payload's ID.
	if len(sent) == 0 {
		t.Fatalf("an accepted payload was not acknowledged")
	}
	checkSent(t, sent[:1], wire.AckRequest{Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID})
	carried := map[wire.IAMRoleCredentialsAckRequest]int{}
	for _, task := range want {
		for _, c := range []*wire.IAMRoleCredentials{task.RoleCredentials, task.ExecutionRoleCredentials} {
			if c != nil {
				carried[wire.IAMRoleCredentialsAckRequest{MessageID: m.MessageID, CredentialsID: c.CredentialsID, Expiration: c.Expiration}]++
			}
		}
	}
	for _, s := range sent[1:] {
		ack, ok := s.(wire.IAMRoleCredentialsAckRequest)
		if !ok || carried[ack] == 0 {
			t.Fatalf("after the payload's ack, sent %#v, which acknowledges no credentials the payload carried", s)
		}
		carried[ack]--
	}
}

func checkSent(t *testing.T, sent []any, want ...any) {
	t.Helper()
	if len(sent) != len(want) {
		t.Fatalf("sent %v; want %v", sent, want)
	}
	for i := range want {
		if sent[i] != want[i] {
			t.Fatalf("sent %#v; want %#v", sent[i], want[i])
		}
	}
}

// secretsOf lists the credential secrets a message carries.
func secretsOf(msg any) []string {
	var creds []*wire.IAMRoleCredentials
	switch m := msg.(type) {
	case *wire.IAMRoleCredentialsMessage:
		creds = append(creds, m.RoleCredentials)
	case *wire.PayloadMessage:
		for _, t := range m.Tasks {
			creds = append(creds, t.RoleCredentials, t.ExecutionRoleCredentials)
		}
	}
	var out []string
	for _, c := range creds {
		if c != nil {
			out = append(out, c.SecretAccessKey, c.SessionToken)
		}
	}
	return out
}

// fuzzEngine records the tasks it is given and refuses those fail selects.
type fuzzEngine struct {
	fail   uint8
	added  []*wire.Task
	failed int
}

func (e *fuzzEngine) AddTask(_ context.Context, t *wire.Task) error {
	i := len(e.added)
	e.added = append(e.added, t)
	if e.fail>>(i%8)&1 == 1 {
		e.failed++
		return errors.New("disk full")
	}
	return nil
}

// fuzzSender records what the handler sends.
type fuzzSender struct{ sent []any }

func (s *fuzzSender) Send(_ context.Context, msg any) error {
	s.sent = append(s.sent, msg)
	return nil
}
