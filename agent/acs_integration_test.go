package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
)

type allowAll struct{}

func (allowAll) CheckInstance(context.Context, authz.Principal, string, string) error { return nil }
func (allowAll) SetAgentConnected(context.Context, string, bool) error                { return nil }

// acsRecorder keeps the AckRequests the agent sends.
type acsRecorder struct {
	mu   sync.Mutex
	acks []string
}

func (r *acsRecorder) onMessage(_ string, msg any) {
	if a, ok := msg.(*wire.AckRequest); ok {
		r.mu.Lock()
		r.acks = append(r.acks, a.MessageID)
		r.mu.Unlock()
	}
}

func (r *acsRecorder) acked(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.acks {
		if a == id {
			return true
		}
	}
	return false
}

// TestRunTaskOverACSAndRestart runs the agent binary's code path end to end
// without Docker: the control plane's ACS server delivers a payload over a
// real websocket, the engine runs the task on the fake runtime, the ack and
// the RUNNING state change come back, and after an agent restart the task
// is adopted from agent.db, still running, with no second container.
func TestRunTaskOverACSAndRestart(t *testing.T) {
	h := newHarness(t)
	rt := enginetest.NewFake()
	rt.SetImage("busybox:latest")
	rt.SetProgram("busybox:latest", enginetest.Program{}) // its containers run until stopped
	h.opts.Runtime = rt
	rec := &acsRecorder{}
	srv := acsserver.New(acsserver.Options{Registry: allowAll{}, OnMessage: rec.onMessage})
	t.Cleanup(srv.Close)
	h.stub.set(func(s *ecsStub) { s.acs = srv })

	st, stop := h.start()
	require.Eventually(t, func() bool { return srv.Connected(st.ContainerInstanceARN) }, 10*time.Second, time.Millisecond)
	const arn = "arn:aws:ecs:us-west-2:123456789012:task/default/feedfacefeedface"
	task := wire.Task{ARN: arn, Family: "web", Version: "2", DesiredStatus: "RUNNING",
		Containers: []wire.Container{{Name: "app", Image: "busybox:latest", Essential: true, Memory: 16}}}
	require.NoError(t, srv.Send(st.ContainerInstanceARN, &wire.PayloadMessage{
		MessageID: "p1", ClusterARN: "default", ContainerInstanceARN: st.ContainerInstanceARN, SeqNum: 1, Tasks: []wire.Task{task}}))

	require.Eventually(t, func() bool { return rec.acked("p1") }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return lastStatus(h.stub, arn) == "RUNNING" }, 10*time.Second, time.Millisecond)
	var list struct {
		Tasks []struct{ Arn, KnownStatus string }
	}
	require.Equal(t, http.StatusOK, getJSON(t, "http://"+st.IntrospectionAddr+"/v1/tasks", &list))
	require.Len(t, list.Tasks, 1)
	assert.Equal(t, "RUNNING", list.Tasks[0].KnownStatus)
	require.NoError(t, stop())

	// The container kept running through the shutdown.
	require.Len(t, rt.Containers(), 1)
	assert.Equal(t, "running", rt.Containers()[0].State)
	sent := len(h.stub.stateChanges())

	st, stop = h.start()
	defer func() { require.NoError(t, stop()) }()
	require.Eventually(t, func() bool { return srv.Connected(st.ContainerInstanceARN) }, 10*time.Second, time.Millisecond)
	// Redelivered after the restart: harmless.
	require.NoError(t, srv.Send(st.ContainerInstanceARN, &wire.PayloadMessage{
		MessageID: "p2", ClusterARN: "default", ContainerInstanceARN: st.ContainerInstanceARN, SeqNum: 2, Tasks: []wire.Task{task}}))
	require.Eventually(t, func() bool { return rec.acked("p2") }, 10*time.Second, time.Millisecond)
	require.Equal(t, http.StatusOK, getJSON(t, "http://"+st.IntrospectionAddr+"/v1/tasks", &list))
	require.Len(t, list.Tasks, 1)
	assert.Equal(t, "RUNNING", list.Tasks[0].KnownStatus)
	assert.Len(t, rt.Containers(), 1, "adopted, not recreated")
	// At least once: a report sent but not yet marked when the agent
	// stopped may go again, but nothing goes backwards.
	for _, c := range h.stub.stateChanges()[sent:] {
		assert.Equal(t, "RUNNING", c["status"])
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}
