package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// fakeSender records what would go out; Send fails while disconnected.
type fakeSender struct {
	connected atomic.Bool
	msgs      chan *wire.PayloadMessage
}

func (f *fakeSender) Send(arn string, msg any) error {
	if !f.connected.Load() {
		return errors.New("not connected")
	}
	f.msgs <- msg.(*wire.PayloadMessage)
	return nil
}

func startFake(t *testing.T, connected bool) (*Deliverer, *fakeSender, *store.Bolt) {
	t.Helper()
	st := openStore(t)
	fs := &fakeSender{msgs: make(chan *wire.PayloadMessage, 64)}
	fs.connected.Store(connected)
	d := New(Options{Store: noScans{st}, Sender: fs, RedeliverInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return d, fs, st
}

func acked(t *testing.T, st store.Store) string {
	t.Helper()
	var task store.Task
	require.NoError(t, st.View(func(tx store.Tx) (err error) {
		task, err = tx.Task("default", "11112222333344445555666677778888")
		return err
	}))
	return task.Delivery.AckedDesiredStatus
}

func TestLateAckDoesNotStepBack(t *testing.T) {
	d, fs, st := startFake(t, true)
	w := Watch(st, d)
	put := func(task store.Task) {
		require.NoError(t, w.Update(func(tx store.Tx) error { return tx.PutTask(task) }))
	}
	put(newTask(store.TaskRunning))
	running := recv(t, fs.msgs)
	put(newTask(store.TaskStopped))
	stopped := recv(t, fs.msgs)
	assert.Equal(t, "STOPPED", stopped.Tasks[0].DesiredStatus)
	assert.Equal(t, running.SeqNum+1, stopped.SeqNum)

	d.Ack(testInstance, "no-such-message")
	d.Ack(testInstance, stopped.MessageID)
	waitFor(t, "STOPPED acked", func() bool { return acked(t, st) == store.TaskStopped })
	d.Ack(testInstance, running.MessageID)
	// Acks are handled in order: once a later event is through, so is this one.
	marker := newTask(store.TaskRunning)
	marker.ID, marker.ARN = "aaaa", "arn:aws:ecs:us-east-1:123456789012:task/default/aaaa"
	put(marker)
	assert.Equal(t, marker.ARN, recv(t, fs.msgs).Tasks[0].ARN)
	assert.Equal(t, store.TaskStopped, acked(t, st), "a late ack of RUNNING does not undo STOPPED")
}

func TestSentWhenTheAgentConnects(t *testing.T) {
	d, fs, st := startFake(t, false)
	require.NoError(t, Watch(st, d).Update(func(tx store.Tx) error { return tx.PutTask(newTask(store.TaskRunning)) }))
	fs.connected.Store(true)
	d.Connected(testInstance)
	p := recv(t, fs.msgs)
	assert.Equal(t, testTaskARN, p.Tasks[0].ARN)
}

func TestTaskWithoutDefinitionIsSkipped(t *testing.T) {
	d, fs, st := startFake(t, true)
	orphan := newTask(store.TaskRunning)
	orphan.Family = "gone"
	marker := newTask(store.TaskRunning)
	marker.ID, marker.ARN = "bbbb", "arn:aws:ecs:us-east-1:123456789012:task/default/bbbb"
	require.NoError(t, Watch(st, d).Update(func(tx store.Tx) error {
		if err := tx.PutTask(orphan); err != nil {
			return err
		}
		return tx.PutTask(marker)
	}))
	p := recv(t, fs.msgs)
	require.Len(t, p.Tasks, 1)
	assert.Equal(t, marker.ARN, p.Tasks[0].ARN)
}

func TestHandleMessageIgnoresOtherMessages(t *testing.T) {
	d := New(Options{})
	d.HandleMessage(testInstance, &wire.HeartbeatAckRequest{MessageID: "x"})
	assert.Empty(t, d.events)
	d.HandleMessage(testInstance, &wire.AckRequest{MessageID: "m"})
	assert.Len(t, d.events, 1)
}

func TestUnacknowledgedCountsPayloadsWaitingForAnAck(t *testing.T) {
	d, fs, st := startFake(t, true)
	assert.Zero(t, d.Unacknowledged())
	require.NoError(t, Watch(st, d).Update(func(tx store.Tx) error { return tx.PutTask(newTask(store.TaskRunning)) }))
	p := recv(t, fs.msgs)
	waitFor(t, "one payload waiting", func() bool { return d.Unacknowledged() == 1 })
	d.Ack(testInstance, p.MessageID)
	waitFor(t, "none waiting", func() bool { return d.Unacknowledged() == 0 })
}

// countingStore counts write transactions.
type countingStore struct {
	store.Store
	updates int
}

func (s *countingStore) Update(fn func(store.Tx) error) error {
	s.updates++
	return s.Store.Update(fn)
}

// Acks that wait together in the queue are recorded in one write
// transaction, in the order they came: a burst of them no longer holds
// back the payloads queued behind.
func TestQueuedAcksShareOneWrite(t *testing.T) {
	st := &countingStore{Store: noScans{openStore(t)}}
	d := New(Options{Store: st, Sender: &fakeSender{}})
	var ids []string
	require.NoError(t, st.Store.Update(func(tx store.Tx) error {
		for i := range 5 {
			task := newTask(store.TaskRunning)
			task.ID = fmt.Sprintf("%032d", i)
			task.ARN = "arn:aws:ecs:us-east-1:123456789012:task/default/" + task.ID
			ids = append(ids, task.ID)
			if err := tx.PutTask(task); err != nil {
				return err
			}
		}
		return nil
	}))
	var batch []event
	for i, id := range ids { // a message per task, acked in turn
		m := &message{id: fmt.Sprint("m", i), tasks: []carried{{cluster: "default", id: id, desired: store.TaskRunning}}}
		d.pending[testInstance] = append(d.pending[testInstance], m)
		batch = append(batch, event{kind: evAck, instance: testInstance, messageID: m.id})
	}
	// The same task's STOPPED acked, then its RUNNING again, late.
	d.pending[testInstance] = append(d.pending[testInstance],
		&message{id: "stop", tasks: []carried{{cluster: "default", id: ids[0], desired: store.TaskStopped}}},
		&message{id: "late", tasks: []carried{{cluster: "default", id: ids[0], desired: store.TaskRunning}}})
	batch = append(batch, event{kind: evAck, instance: testInstance, messageID: "stop"},
		event{kind: evAck, instance: testInstance, messageID: "late"},
		event{kind: evAck, instance: testInstance, messageID: "unknown"})

	d.handle(batch)
	assert.Equal(t, 1, st.updates, "eight acks, one write")
	assert.Empty(t, d.pending[testInstance])
	require.NoError(t, st.View(func(tx store.Tx) error {
		for i, id := range ids {
			task, err := tx.Task("default", id)
			require.NoError(t, err)
			want := store.TaskRunning
			if i == 0 {
				want = store.TaskStopped // the late RUNNING does not step back
			}
			assert.Equal(t, want, task.Delivery.AckedDesiredStatus, "task %d", i)
		}
		return nil
	}))

	// Acks on either side of another event are written on either side of it.
	st.updates = 0
	d.pending[testInstance] = []*message{{id: "a", tasks: []carried{{cluster: "default", id: ids[1], desired: store.TaskStopped}}},
		{id: "b", tasks: []carried{{cluster: "default", id: ids[2], desired: store.TaskStopped}}}}
	d.handle([]event{{kind: evAck, instance: testInstance, messageID: "a"}, {kind: evTasks},
		{kind: evAck, instance: testInstance, messageID: "b"}})
	assert.Equal(t, 2, st.updates)
}

// A task written through Batch is offered for delivery as through Update.
func TestBatchWritesAreDelivered(t *testing.T) {
	d, fs, st := startFake(t, true)
	require.NoError(t, Watch(st, d).Batch(func(tx store.Tx) error { return tx.PutTask(newTask(store.TaskRunning)) }))
	assert.Equal(t, testTaskARN, recv(t, fs.msgs).Tasks[0].ARN)
}
