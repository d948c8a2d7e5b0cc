package tcsserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
	"github.com/open-ecs/ecs-agent/internal/testutil"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

func TestPublishesAreStoredAndAcknowledged(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, instA, keyA)

	ack := c.publish(metrics(instA, "m1", true, taskMetric(taskA, 75)))
	assert.Equal(t, &wire.AckPublishMetric{Message: "m1"}, ack)
	got := ts.store.Containers()
	require.Len(t, got, 1)
	assert.Equal(t, telemetry.Task{ARN: taskA, ID: "aaaa", Cluster: cluster, Family: "web", Revision: 2, Instance: instA}, got[0].Task,
		"the task as the control plane knows it")
	assert.InDelta(t, 75, got[0].Metrics.CPU.Average(), 1e-9)
	assert.InDelta(t, 64, got[0].Metrics.MemoryMiB.Average(), 1e-9)
	assert.Equal(t, uint64(1000), got[0].RxBytesTotal)

	since := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	ack = c.publish(health(instA, "h1", wire.TaskHealth{TaskARN: taskA, Containers: []wire.ContainerHealth{
		{ContainerName: "app", HealthStatus: wire.HealthStatusUnhealthy, StatusSince: wire.At(since), StatusMessage: "exit 1"},
	}}))
	assert.Equal(t, &wire.AckPublishHealth{Message: "h1"}, ack)
	h, ok := ts.store.ContainerHealth(taskA, "app")
	require.True(t, ok)
	assert.Equal(t, telemetry.ContainerHealth{Name: "app", Status: "UNHEALTHY", Since: since, Message: "exit 1"}, h)

	ack = c.publish(&wire.PublishInstanceStatusRequest{
		Metadata: &wire.InstanceStatusMetadata{Cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/default", ContainerInstance: instA, RequestID: "r1"},
		Statuses: []wire.InstanceStatus{{Type: "ContainerRuntime", Status: wire.InstanceHealthcheckStatusOk, LastUpdated: wire.At(since)}},
	})
	assert.Equal(t, &wire.AckPublishInstanceStatus{Message: "r1"}, ack, "the cluster may be named by its ARN")
	st, ok := ts.store.InstanceStatuses(instA)
	require.True(t, ok)
	assert.Equal(t, []telemetry.InstanceStatus{{Type: "ContainerRuntime", Status: "OK", LastUpdated: since}}, st)

	assert.Equal(t, Stats{Accepted: 3}, ts.srv.Stats())
}

// A changed byte anywhere in a signed frame is refused, nothing of it is
// kept, and the session goes on.
func TestTamperedFrameIsRefused(t *testing.T) {
	var logs testutil.SyncBuffer
	ts := startServer(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	c := ts.dial(t, instA, keyA)

	frame := c.frame(metrics(instA, "m1", true, taskMetric(taskA, 75)))
	for name, tamper := range map[string]func([]byte) []byte{
		"envelope": func(f []byte) []byte { return bytes.Replace(f, []byte(`"max":75`), []byte(`"max":99`), 1) },
		"date": func(f []byte) []byte {
			i := bytes.Index(f, []byte("X-Amz-Date: ")) + len("X-Amz-Date: 2")
			return append(append(append([]byte{}, f[:i]...), '1'), f[i+1:]...)
		},
		"signature": func(f []byte) []byte {
			i := bytes.Index(f, []byte("Signature=")) + len("Signature=")
			g := append([]byte{}, f...)
			g[i] ^= 1
			return g
		},
	} {
		t.Run(name, func(t *testing.T) {
			tampered := tamper(frame)
			require.NotEqual(t, frame, tampered)
			c.sendRaw(tampered)
			exc, ok := c.next().(*wire.BadRequestException)
			require.True(t, ok)
			assert.Contains(t, exc.Message, "the frame's signature does not verify")
			assert.Empty(t, ts.store.Containers(), "nothing of a refused frame is kept")
		})
	}
	assert.Equal(t, uint64(3), ts.srv.Stats().Refused)
	assert.Equal(t, &wire.AckPublishMetric{Message: "m1"}, c.publish(metrics(instA, "m1", true, taskMetric(taskA, 75))),
		"the session goes on")
	assert.Len(t, ts.store.Containers(), 1)
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN msg=\"refused a TCS frame\""), "a repeated refusal is logged once at warn")
}

func TestUnsignedFrameIsRefused(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, instA, keyA)
	env, err := wire.Encode(metrics(instA, "m1", true, taskMetric(taskA, 75)))
	require.NoError(t, err)
	c.sendRaw(env)
	exc, ok := c.next().(*wire.BadRequestException)
	require.True(t, ok)
	assert.Contains(t, exc.Message, "not a signed TCS frame")
	assert.Empty(t, ts.store.Containers())
}

// A valid signature by another valid key, or for another host or path,
// does not pass: the frame must come from the key that opened the session.
func TestFrameSignedOtherwiseThanTheSessionIsRefused(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, instA, keyA)
	msg := metrics(instA, "m1", true, taskMetric(taskA, 75))

	c.signer = signerFor(ts.tcsURL(instA), keyB)
	exc := c.publish(msg).(*wire.BadRequestException)
	assert.Equal(t, "the frame is signed with access key AKIDAGENTB, but this session was opened with AKIDAGENTA", exc.Message)

	c.signer = signerFor(strings.Replace(ts.tcsURL(instA), "127.0.0.1", "localhost", 1), keyA)
	exc = c.publish(msg).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "the frame is signed for host \"localhost:")

	c.signer = signerFor(strings.Replace(ts.tcsURL(instA), "/tcs/ws", "/other/ws", 1), keyA)
	exc = c.publish(msg).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "the frame's signature does not verify")

	c.signer = signerFor(ts.tcsURL(instA), keyBad)
	exc = c.publish(msg).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "UnrecognizedClientException")
	assert.Empty(t, ts.store.Containers())
}

// A frame about another instance, or naming a task of another instance,
// is refused whole.
func TestFrameForAnotherInstanceIsRefused(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, instA, keyA)

	exc := c.publish(metrics(instB, "m1", true, taskMetric(taskB, 75))).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "metadata.containerInstance \""+instB+"\" is not the container instance this session was opened for")

	exc = c.publish(metrics(instA, "m2", true, taskMetric(taskA, 75), taskMetric(taskB, 75))).(*wire.BadRequestException)
	assert.Equal(t, "taskMetrics[1].taskArn "+taskB+" runs on container instance "+instB+", not on "+instA+", the instance of this session", exc.Message)

	exc = c.publish(health(instA, "h1", wire.TaskHealth{TaskARN: taskB, Containers: []wire.ContainerHealth{
		{ContainerName: "app", HealthStatus: wire.HealthStatusHealthy}}})).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "tasks[0].taskArn "+taskB+" runs on container instance "+instB)

	other := metrics(instA, "m3", true, taskMetric(taskA, 75))
	other.Metadata.Cluster = "prod"
	exc = c.publish(other).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, `metadata.cluster "prod" is not the cluster of container instance`)

	assert.Empty(t, ts.store.Containers())
	_, ok := ts.store.ContainerHealth(taskA, "app")
	assert.False(t, ok)
	assert.Equal(t, Stats{Refused: 4}, ts.srv.Stats())
}

func TestMalformedPublishIsRefusedNamingTheField(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, instA, keyA)
	negative := taskMetric(taskA, 75, "app", "sidecar")
	negative.ContainerMetrics[1].CPUStatsSet.Min = -1
	tooMany := metrics(instA, "m", true)
	for range 11 {
		tooMany.TaskMetrics = append(tooMany.TaskMetrics, taskMetric(taskA, 1))
	}
	noMeta := metrics(instA, "m", true, taskMetric(taskA, 1))
	noMeta.Metadata = nil
	noID := metrics(instA, "", true, taskMetric(taskA, 1))

	for _, tc := range []struct {
		msg  wire.Message
		want string
	}{
		{metrics(instA, "m", true, negative), "taskMetrics[0].containerMetrics[1].cpuStatsSet: min, max, sum and sampleCount must not be negative"},
		{tooMany, "taskMetrics has 11 tasks; at most 10 per message"},
		{noMeta, "metadata is required"},
		{noID, "metadata.messageId is required"},
		{health(instA, "h", wire.TaskHealth{TaskARN: taskA, Containers: []wire.ContainerHealth{{ContainerName: "app", HealthStatus: "GREEN"}}}),
			`tasks[0].containers[0].healthStatus "GREEN": want HEALTHY, UNHEALTHY or UNKNOWN`},
		{&wire.PublishInstanceStatusRequest{Metadata: &wire.InstanceStatusMetadata{Cluster: cluster, ContainerInstance: instA},
			Statuses: []wire.InstanceStatus{{Type: "Agent", Status: "FINE"}}}, `statuses[0].status "FINE": want OK, IMPAIRED`},
		{&wire.PublishInstanceStatusRequest{Metadata: &wire.InstanceStatusMetadata{Cluster: cluster, ContainerInstance: instA},
			Statuses: []wire.InstanceStatus{{Status: "OK"}}}, "statuses[0].type must have 1 to 64 characters"},
	} {
		exc, ok := c.publish(tc.msg).(*wire.InvalidParameterException)
		require.True(t, ok, tc.want)
		assert.Contains(t, exc.Message, tc.want)
	}
	exc := c.publish(&wire.StartTelemetrySessionRequest{Cluster: cluster, ContainerInstance: instA}).(*wire.BadRequestException)
	assert.Contains(t, exc.Message, "StartTelemetrySessionRequest is not accepted")
	assert.Empty(t, ts.store.Containers(), "nothing of the valid parts of a refused frame is kept")
}

// Data about tasks the control plane does not know or that stopped, and
// containers a task does not have, is left out and counted; the rest of
// the publish is kept and acknowledged.
func TestUnknownTasksAndContainersAreDroppedAndCounted(t *testing.T) {
	var logs testutil.SyncBuffer
	ts := startServer(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	c := ts.dial(t, instA, keyA)
	unknown := "arn:aws:ecs:us-east-1:123456789012:task/default/ffff"
	ack := c.publish(metrics(instA, "m1", true,
		taskMetric(taskA, 10, "app", "ghost"), taskMetric(unknown, 1), taskMetric(stopped, 1), taskMetric(taskA2, 20)))
	assert.Equal(t, &wire.AckPublishMetric{Message: "m1"}, ack)
	var kept []string
	for _, x := range ts.store.Containers() {
		kept = append(kept, x.Task.ID+"/"+x.Name)
	}
	assert.Equal(t, []string{"aaa2/app", "aaaa/app"}, kept)
	assert.Equal(t, Stats{Accepted: 1, Dropped: 3}, ts.srv.Stats())
	assert.Regexp(t, `level=INFO msg="dropped TCS data for a task the control plane does not know" .* task=`+unknown+` count=1`, logs.String())
	assert.Regexp(t, `level=WARN msg="dropped TCS data for a container its task does not have" .* task=`+taskA+` container=ghost count=1`, logs.String())
}

func TestLookupFailureAsksForAnotherPublish(t *testing.T) {
	ts := startServer(t, nil)
	ts.reg.failing = true
	c := ts.dial(t, instA, keyA)
	exc, ok := c.publish(metrics(instA, "m1", true, taskMetric(taskA, 10))).(*wire.ServerException)
	require.True(t, ok)
	assert.Contains(t, exc.Message, "publish again")
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", truncate("abc", 5))
	assert.Equal(t, "ab", truncate("abc", 2))
	assert.Equal(t, "a", truncate("aé", 2), "never half a rune")
}
