package delivery

// These tests run the real ACS server and the agent's own ACS client
// session over 127.0.0.1, with a real store.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

const (
	testCluster  = "arn:aws:ecs:us-east-1:123456789012:cluster/default"
	testInstance = "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0123456789abcdef0123456789abcdef"
	testTaskARN  = "arn:aws:ecs:us-east-1:123456789012:task/default/11112222333344445555666677778888"
)

type allowAll struct{}

func (allowAll) CheckInstance(context.Context, authz.Principal, string, string) error { return nil }
func (allowAll) SetAgentConnected(context.Context, string, bool) error                { return nil }

// plane is an ACS server with a Deliverer over one store.
type plane struct {
	st     *store.Bolt
	d      *Deliverer
	acs    *acsserver.Server
	url    string
	sweeps chan struct{}
}

func openStore(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Update(func(tx store.Tx) error {
		return tx.PutTaskDefinition(store.TaskDefinition{
			ARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1", Family: "app", Revision: 1,
			Status: store.StatusActive, NetworkMode: store.NetworkModeBridge,
			ContainerDefinitions: []store.ContainerDefinition{{Name: "main", Image: "busybox", Memory: aws.Int(64)}},
		})
	}))
	return st
}

func startPlane(t *testing.T, st *store.Bolt, interval time.Duration) *plane {
	t.Helper()
	p := &plane{st: st, sweeps: make(chan struct{}, 64)}
	p.d = New(Options{Store: noScans{st}, RedeliverInterval: interval, OnSweep: func() {
		select {
		case p.sweeps <- struct{}{}:
		default:
		}
	}})
	p.acs = acsserver.New(acsserver.Options{Registry: allowAll{}, OnMessage: p.d.HandleMessage, OnConnect: p.d.Connected})
	p.d.o.Sender = p.acs
	mux := http.NewServeMux()
	mux.Handle("GET /ws", p.acs)
	hs := httptest.NewServer(mux)
	p.url = hs.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.d.Run(ctx) }()
	t.Cleanup(func() {
		p.acs.Close()
		hs.Close()
		cancel()
		require.NoError(t, <-done)
	})
	return p
}

// agent is the agent's ACS session; it acks payloads while ack is true.
type agent struct {
	session  *acs.Session
	payloads chan *wire.PayloadMessage
	ack      atomic.Bool
	stop     func()
}

func startAgent(t *testing.T, url string) *agent {
	t.Helper()
	a := &agent{payloads: make(chan *wire.PayloadMessage, 64)}
	var sess *acs.Session
	sess = acs.NewSession(acs.Options{
		DiscoverEndpoint:     func(context.Context) (string, error) { return url, nil },
		Cluster:              "default",
		ContainerInstanceARN: testInstance,
		AgentVersion:         "0.1.0",
		DockerVersion:        "20.10.24",
		Region:               "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
		BackoffMin: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond,
		Handler: func(ctx context.Context, msg any) {
			p, ok := msg.(*wire.PayloadMessage)
			if !ok {
				return
			}
			if a.ack.Load() {
				assert.NoError(t, sess.Send(ctx, &wire.AckRequest{
					Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID}))
			}
			a.payloads <- p
		},
	})
	a.session = sess
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	stopped := false
	a.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(a.stop)
	return a
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting on channel")
		var zero T
		return zero
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
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

func newTask(desired string) store.Task {
	return store.Task{
		ID: "11112222333344445555666677778888", Cluster: "default", ARN: testTaskARN, ClusterARN: testCluster,
		TaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1", Family: "app", Revision: 1,
		ContainerInstanceARN: testInstance, LastStatus: store.TaskPending, DesiredStatus: desired, Version: 1,
		Group: "family:app",
	}
}

// putTask writes t through the watched store, as the API does.
func (p *plane) putTask(t *testing.T, task store.Task) {
	t.Helper()
	require.NoError(t, Watch(p.st, p.d).Update(func(tx store.Tx) error { return tx.PutTask(task) }))
}

func (p *plane) task(t *testing.T) store.Task {
	t.Helper()
	var task store.Task
	require.NoError(t, p.st.View(func(tx store.Tx) (err error) {
		task, err = tx.Task("default", "11112222333344445555666677778888")
		return err
	}))
	return task
}

func requireTaskPayload(t *testing.T, p *wire.PayloadMessage, desired string) {
	t.Helper()
	require.Len(t, p.Tasks, 1)
	assert.Equal(t, testTaskARN, p.Tasks[0].ARN)
	assert.Equal(t, desired, p.Tasks[0].DesiredStatus)
	assert.Equal(t, "main", p.Tasks[0].Containers[0].Name)
	assert.Equal(t, testCluster, p.ClusterARN)
	assert.Equal(t, testInstance, p.ContainerInstanceARN)
	assert.NotEmpty(t, p.MessageID)
}

func TestRedeliveredUntilAcked(t *testing.T) {
	p := startPlane(t, openStore(t), 50*time.Millisecond)
	a := startAgent(t, p.url)
	waitFor(t, "agent connected", func() bool { return p.acs.Connected(testInstance) })

	p.putTask(t, newTask(store.TaskRunning))
	first := recv(t, a.payloads)
	requireTaskPayload(t, first, store.TaskRunning)

	// No ack: the timer sends it again, in a new message.
	again := recv(t, a.payloads)
	requireTaskPayload(t, again, store.TaskRunning)
	assert.NotEqual(t, first.MessageID, again.MessageID)
	assert.Greater(t, again.SeqNum, first.SeqNum)
	assert.Empty(t, p.task(t).Delivery.AckedDesiredStatus)

	// Acked: recorded in the task, and no more sends.
	a.ack.Store(true)
	waitFor(t, "ack recorded", func() bool { return p.task(t).Delivery.AckedDesiredStatus == store.TaskRunning })
	for range 2 { // messages sent before the ack was recorded have arrived by now
		recv(t, p.sweeps)
	}
	for len(a.payloads) > 0 {
		<-a.payloads
	}
	for range 3 {
		recv(t, p.sweeps)
	}
	assert.Empty(t, a.payloads, "an acknowledged task is not sent again")
	assert.NotNil(t, p.task(t).Delivery.AckedAt)

	// A new desired status is delivered at once, and acked too.
	stopping := p.task(t)
	stopping.DesiredStatus = store.TaskStopped
	p.putTask(t, stopping)
	requireTaskPayload(t, recv(t, a.payloads), store.TaskStopped)
	waitFor(t, "STOPPED acked", func() bool { return p.task(t).Delivery.AckedDesiredStatus == store.TaskStopped })
}

func TestReconnectAndRestartRedeliver(t *testing.T) {
	st := openStore(t)
	// The timer never fires in this test: only connects resend.
	p := startPlane(t, st, time.Hour)
	a := startAgent(t, p.url)
	waitFor(t, "agent connected", func() bool { return p.acs.Connected(testInstance) })
	p.putTask(t, newTask(store.TaskRunning))
	requireTaskPayload(t, recv(t, a.payloads), store.TaskRunning)

	// The agent drops its session without acking; its next session gets the task again.
	p.acs.Disconnect(testInstance)
	requireTaskPayload(t, recv(t, a.payloads), store.TaskRunning)
	a.stop()

	// A restarted control plane (nothing in memory) delivers it when the agent connects.
	p2 := startPlane(t, st, time.Hour)
	b := startAgent(t, p2.url)
	b.ack.Store(true)
	requireTaskPayload(t, recv(t, b.payloads), store.TaskRunning)
	waitFor(t, "ack recorded", func() bool { return p2.task(t).Delivery.AckedDesiredStatus == store.TaskRunning })
}

func TestStoppedTasksAndRollbacksAreNotSent(t *testing.T) {
	p := startPlane(t, openStore(t), time.Hour)
	a := startAgent(t, p.url)
	waitFor(t, "agent connected", func() bool { return p.acs.Connected(testInstance) })

	done := newTask(store.TaskStopped)
	done.LastStatus = store.TaskStopped
	p.putTask(t, done)
	err := Watch(p.st, p.d).Update(func(tx store.Tx) error {
		require.NoError(t, tx.PutTask(newTask(store.TaskRunning)))
		return assert.AnError
	})
	require.ErrorIs(t, err, assert.AnError)

	// A marker task written afterwards arrives first: nothing was sent before it.
	marker := newTask(store.TaskRunning)
	marker.ID, marker.ARN = "99990000999900009999000099990000", "arn:aws:ecs:us-east-1:123456789012:task/default/99990000999900009999000099990000"
	p.putTask(t, marker)
	got := recv(t, a.payloads)
	require.Len(t, got.Tasks, 1)
	assert.Equal(t, marker.ARN, got.Tasks[0].ARN)
}
