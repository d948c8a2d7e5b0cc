package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/agent/credentials"
)

type fakeEngine struct {
	mu    sync.Mutex
	added []string // "arn:desired"
	fail  map[string]error
	gate  chan struct{} // if set, AddTask waits on it
}

func (f *fakeEngine) AddTask(ctx context.Context, t *wire.Task) error {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, t.ARN+":"+t.DesiredStatus)
	return f.fail[t.ARN]
}

func (f *fakeEngine) addedTasks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.added...)
}

type fakeSender struct {
	mu   sync.Mutex
	sent []any
}

func (f *fakeSender) Send(_ context.Context, msg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, msg)
	return nil
}

func (f *fakeSender) messages() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]any(nil), f.sent...)
}

func startHandler(t *testing.T, eng taskAdder) (*acsHandler, *fakeSender) {
	snd := &fakeSender{}
	h := newACSHandler(eng, snd, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); assert.NoError(t, h.Run(ctx)) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, snd
}

func payload(id string, tasks ...wire.Task) *wire.PayloadMessage {
	return &wire.PayloadMessage{MessageID: id, ClusterARN: "arn:cluster/c", ContainerInstanceARN: "arn:ci/1", SeqNum: 3, Tasks: tasks}
}

func task(arn, desired string) wire.Task { return wire.Task{ARN: arn, DesiredStatus: desired} }

func TestPayloadStopsFirstThenAcks(t *testing.T) {
	eng := &fakeEngine{}
	h, snd := startHandler(t, eng)
	h.Handle(t.Context(), payload("m1",
		task("t1", "RUNNING"), task("t2", "STOPPED"), task("t3", "RUNNING"), task("t4", "STOPPED")))

	require.Eventually(t, func() bool { return len(snd.messages()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"t2:STOPPED", "t4:STOPPED", "t1:RUNNING", "t3:RUNNING"}, eng.addedTasks())
	assert.Equal(t, wire.AckRequest{Cluster: "arn:cluster/c", ContainerInstance: "arn:ci/1", MessageID: "m1"}, snd.messages()[0])
}

func TestPayloadNotAckedWhenATaskFails(t *testing.T) {
	eng := &fakeEngine{fail: map[string]error{"t1": errors.New("disk full")}}
	h, snd := startHandler(t, eng)
	h.Handle(t.Context(), payload("m1", task("t1", "RUNNING"), task("t2", "RUNNING")))
	// A second payload after it is handled (and acked) in order, which
	// proves the first was fully processed without an ack.
	h.Handle(t.Context(), payload("m2", task("t3", "RUNNING")))

	require.Eventually(t, func() bool { return len(snd.messages()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "m2", snd.messages()[0].(wire.AckRequest).MessageID)
	assert.Equal(t, []string{"t1:RUNNING", "t2:RUNNING", "t3:RUNNING"}, eng.addedTasks())
}

func TestDuplicatePayloadIsAckedAgain(t *testing.T) {
	eng := &fakeEngine{}
	h, snd := startHandler(t, eng)
	h.Handle(t.Context(), payload("m1", task("t1", "RUNNING")))
	h.Handle(t.Context(), payload("m1", task("t1", "RUNNING")))
	require.Eventually(t, func() bool { return len(snd.messages()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"t1:RUNNING", "t1:RUNNING"}, eng.addedTasks())
}

func TestInvalidPayloadDroppedWithoutAck(t *testing.T) {
	eng := &fakeEngine{}
	h, snd := startHandler(t, eng)
	for _, m := range []*wire.PayloadMessage{
		{ClusterARN: "c", ContainerInstanceARN: "ci", Tasks: []wire.Task{task("t1", "RUNNING")}},
		{MessageID: "m", ContainerInstanceARN: "ci", Tasks: []wire.Task{task("t1", "RUNNING")}},
		{MessageID: "m", ClusterARN: "c", Tasks: []wire.Task{task("t1", "RUNNING")}},
	} {
		h.Handle(t.Context(), m)
	}
	h.Handle(t.Context(), payload("ok", task("t9", "RUNNING")))
	require.Eventually(t, func() bool { return len(snd.messages()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"t9:RUNNING"}, eng.addedTasks())
}

func TestHandleReturnsWhileTheEngineIsBusy(t *testing.T) {
	eng := &fakeEngine{gate: make(chan struct{})}
	h, snd := startHandler(t, eng)
	returned := make(chan struct{})
	go func() {
		for i := range 50 {
			h.Handle(t.Context(), payload("m", task("t"+string(rune('a'+i%26)), "RUNNING")))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Handle blocked on a busy engine")
	}
	assert.Empty(t, snd.messages())
	close(eng.gate)
	require.Eventually(t, func() bool { return len(snd.messages()) == 50 }, 5*time.Second, time.Millisecond)
}

func TestOtherMessagesAcked(t *testing.T) {
	h, snd := startHandler(t, &fakeEngine{})
	h.Handle(t.Context(), &wire.TaskManifestMessage{MessageID: "man", ClusterARN: "c", ContainerInstanceARN: "ci"})
	h.Handle(t.Context(), &wire.IAMRoleCredentialsMessage{MessageID: "cred", TaskARN: "t1", RoleType: wire.RoleType(credentials.RoleTask),
		RoleCredentials: &wire.IAMRoleCredentials{CredentialsID: "c-1", Expiration: "2026-01-01T00:00:00Z", AccessKeyID: "k", SecretAccessKey: "s"}})
	h.Handle(t.Context(), &wire.ErrorMessage{Message: "boom"})
	h.Handle(t.Context(), &wire.CloseMessage{Message: "bye"})
	assert.Equal(t, []any{
		wire.AckRequest{Cluster: "c", ContainerInstance: "ci", MessageID: "man"},
		wire.IAMRoleCredentialsAckRequest{MessageID: "cred", CredentialsID: "c-1", Expiration: "2026-01-01T00:00:00Z"},
	}, snd.messages())
}

func TestPayloadQueueIsBounded(t *testing.T) {
	eng := &fakeEngine{gate: make(chan struct{})}
	h, snd := startHandler(t, eng)
	for range maxQueuedPayloads + 10 {
		h.Handle(t.Context(), payload("m", task("t", "RUNNING")))
	}
	close(eng.gate)
	// One payload may have been taken off the queue before it filled.
	require.Eventually(t, func() bool {
		n := len(snd.messages())
		return n == maxQueuedPayloads || n == maxQueuedPayloads+1
	}, 5*time.Second, time.Millisecond)
}

func TestPayloadNotAckedWhenStoppedMidway(t *testing.T) {
	eng := &fakeEngine{gate: make(chan struct{})} // AddTask waits until its ctx ends
	snd := &fakeSender{}
	h := newACSHandler(eng, snd, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	h.Handle(ctx, payload("m1", task("t1", "RUNNING")))
	h.Handle(ctx, payload("m2", task("t2", "RUNNING")))
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return on cancel")
	}
	assert.Empty(t, snd.messages(), "nothing persisted, nothing acknowledged")
}

// A task without an ARN can be neither run nor reported: it is logged and
// the payload is acknowledged, so ACS does not redeliver it forever.
func TestTaskWithoutARNIsAcknowledged(t *testing.T) {
	eng := &fakeEngine{fail: map[string]error{"": errors.New("engine: AddTask needs a task with an arn")}}
	h, snd := startHandler(t, eng)
	h.Handle(t.Context(), payload("m1", task("", "RUNNING"), task("t1", "RUNNING")))
	require.Eventually(t, func() bool { return len(snd.messages()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "m1", snd.messages()[0].(wire.AckRequest).MessageID)
	assert.Equal(t, []string{"t1:RUNNING"}, eng.addedTasks())
}
