package tcs

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

func TestURLAndHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		stop := running(t, newTestSession(f, nil))
		srv := <-f.accepted
		srv.readRound(t)
		require.NoError(t, stop())

		d := f.dials()[0]
		assert.Equal(t, "wss://ecs-t-1.us-west-2.amazonaws.com/ws?agentHash=abc123&agentVersion=0.1.0&cluster=default"+
			"&containerInstance="+url.QueryEscape(testInstanceARN)+"&dockerVersion=20.10.24", d.url,
			"keys in alphabetical order; the raw Docker version, without ACS's prefix")
		assert.Contains(t, d.header.Get("Authorization"), "/us-west-2/ecs/aws4_request")
		assert.Equal(t, testToken, d.header.Get("X-Amz-Security-Token"))
	})
}

func TestPublishesAtStartAndEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		metrics := &fakeMetrics{tasks: []wire.TaskMetric{{TaskARN: "arn:task/1", ContainerMetrics: []wire.ContainerMetric{{ContainerName: "app"}}}}}
		tasks := &fakeTasks{}
		tasks.set(engine.TaskSnapshot{ARN: "arn:task/1", Family: "web", Version: "3", Containers: []engine.ContainerSnapshot{
			{Name: "app", KnownStatus: engine.StatusRunning, Health: "HEALTHY"},
			{Name: "nocheck", KnownStatus: engine.StatusRunning},
		}})
		start := time.Now()
		stop := running(t, newTestSession(f, func(o *Options) { o.Metrics, o.Tasks = metrics, tasks }))
		srv := <-f.accepted

		round := srv.readRound(t)
		require.Len(t, round, 3, "metrics, health, instance status")
		m := round[0].(*wire.PublishMetricsRequest)
		assert.Equal(t, wire.MetricsMetadata{Cluster: "default", ContainerInstance: testInstanceARN, MessageID: m.Metadata.MessageID, Fin: true}, *m.Metadata)
		assert.NotEmpty(t, m.Metadata.MessageID)
		assert.Equal(t, "arn:task/1", m.TaskMetrics[0].TaskARN)
		assert.True(t, m.Timestamp.Equal(start))
		h := round[1].(*wire.PublishHealthRequest)
		assert.True(t, h.Metadata.Fin)
		assert.Equal(t, []wire.TaskHealth{{TaskARN: "arn:task/1", ClusterARN: "default", TaskDefinitionFamily: "web", TaskDefinitionVersion: "3",
			Containers: []wire.ContainerHealth{{ContainerName: "app", HealthStatus: wire.HealthStatusHealthy, StatusSince: wire.At(start)}}}}, h.Tasks,
			"only containers with a health check")
		st := round[2].(*wire.PublishInstanceStatusRequest)
		assert.Equal(t, []wire.InstanceStatus{{Type: StatusTypeAgent, Status: wire.InstanceHealthcheckStatusOk,
			LastUpdated: wire.At(start), LastStatusChange: wire.At(start)}}, st.Statuses)
		assert.NotEmpty(t, st.Metadata.RequestID)

		srv.send(t, wire.HeartbeatMessage{})
		metrics.mu.Lock()
		metrics.tasks = nil
		metrics.mu.Unlock()
		round = srv.readRound(t)
		assert.Equal(t, DefaultPublishInterval, time.Since(start), "the next round comes 20 s later")
		m = round[0].(*wire.PublishMetricsRequest)
		assert.True(t, m.Metadata.Idle, "no task metrics: one idle message")
		assert.True(t, m.Metadata.Fin)
		assert.Empty(t, m.TaskMetrics)
		h = round[1].(*wire.PublishHealthRequest)
		assert.Equal(t, wire.At(start), h.Tasks[0].Containers[0].StatusSince, "still healthy since the start")
		require.NoError(t, stop())
	})
}

func TestMetricsDisabledHealthStillFlows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		tasks := &fakeTasks{}
		tasks.set(engine.TaskSnapshot{ARN: "arn:task/1", Containers: []engine.ContainerSnapshot{{Name: "app", Health: "UNHEALTHY"}}})
		stop := running(t, newTestSession(f, func(o *Options) { o.Metrics, o.Tasks = nil, tasks }))
		srv := <-f.accepted
		round := srv.readRound(t)
		require.Len(t, round, 2)
		assert.IsType(t, &wire.PublishHealthRequest{}, round[0], "no metrics message at all")
		assert.IsType(t, &wire.PublishInstanceStatusRequest{}, round[1])
		require.NoError(t, stop())
	})
}

// heartbeats keeps the connection alive from the server side until ctx ends,
// reading (and verifying) what the agent sends in between.
func heartbeats(t *testing.T, ctx context.Context, srv *serverEnd, every time.Duration) {
	go func() {
		for {
			if _, err := srv.read(t); err != nil {
				return
			}
		}
	}()
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				frame, _ := wire.Encode(wire.HeartbeatMessage{})
				if srv.WriteMessage(websocket.TextMessage, frame) != nil {
					return
				}
			}
		}
	}()
}

func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		stop := running(t, newTestSession(f, nil))
		srv := <-f.accepted
		ctx, cancel := context.WithCancel(t.Context())
		heartbeats(t, ctx, srv, 30*time.Second)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.Len(t, f.dials(), 1, "heartbeats keep the connection")

		cancel() // the server goes quiet
		time.Sleep(45*time.Second + wsconn.CloseGrace + time.Second)
		synctest.Wait()
		require.Len(t, f.dials(), 2, "no heartbeat for the heartbeat timeout: closed and redialled")
		require.NoError(t, stop())
	})
}

// An ack counts as a sign of life as much as a heartbeat.
func TestAckResetsIdleTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		stop := running(t, newTestSession(f, nil))
		srv := <-f.accepted
		for range 6 {
			srv.readRound(t)
			srv.send(t, wire.AckPublishMetric{Message: "ok"})
		}
		assert.Len(t, f.dials(), 1)
		require.NoError(t, stop())
	})
}

func TestMaxLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		start := time.Now()
		stop := running(t, newTestSession(f, func(o *Options) { o.MaxLifetime = 10 * time.Minute }))
		srv := <-f.accepted
		_, _, err := func() (int, []byte, error) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tick := time.NewTicker(30 * time.Second)
			defer tick.Stop()
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						// The last tick falls on the lifetime's expiry,
						// when the agent may already have closed: a
						// failed write is expected then, and FailNow
						// must not run off the test's goroutine anyway.
						frame, err := wire.Encode(wire.HeartbeatMessage{})
						if err != nil {
							t.Error(err)
							return
						}
						if srv.WriteMessage(websocket.TextMessage, frame) != nil {
							return
						}
					}
				}
			}()
			for {
				typ, data, err := srv.ReadMessage()
				if err != nil {
					return typ, data, err
				}
			}
		}()
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
		assert.Equal(t, ConnectionExpiredReason, ce.Text)
		assert.Equal(t, 10*time.Minute, time.Since(start))
		srv.Close()
		<-f.accepted
		assert.Equal(t, 10*time.Minute, f.dials()[1].at.Sub(start), "a long connection is redialled at once")
		require.NoError(t, stop())
	})
}

func TestStopTelemetrySession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		stop := running(t, newTestSession(f, nil))
		srv := <-f.accepted
		srv.readRound(t)
		srv.send(t, wire.StopTelemetrySessionMessage{Message: "bye"})
		for {
			if _, err := srv.read(t); err != nil {
				break
			}
		}
		stoppedAt := time.Now()
		<-f.accepted
		assert.GreaterOrEqual(t, f.dials()[1].at.Sub(stoppedAt), DefaultBackoffMin,
			"a short session is followed by a backoff, however it ended")
		require.NoError(t, stop())
	})
}

// A server that accepts and closes at once with a "normal" code must not
// be redialled in a loop: the shared Reconnect rule backs off.
func TestNoReconnectStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		stop := running(t, newTestSession(f, nil))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for srv := range f.accepted {
				_ = srv.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "go away"), time.Time{})
				srv.Close()
			}
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		n := len(f.dials())
		assert.LessOrEqual(t, n, 7, "1, 2, 4, 8, 16, 32 s apart at most: %d dials in a minute", n)
		assert.GreaterOrEqual(t, n, 5)
		require.NoError(t, stop())
		close(f.accepted)
		<-done
	})
}

func TestDeregisteredWaitsAnHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS()
		s := newTestSession(f, nil)
		stop := running(t, s)
		srv := <-f.accepted
		srv.readRound(t)
		s.Deregistered()
		var err error
		for err == nil {
			_, err = srv.read(t)
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "container instance deregistered", ce.Text)
		at := time.Now()
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		assert.Len(t, f.dials(), 1, "no reconnect within the hour")
		<-f.accepted
		assert.Equal(t, time.Hour, f.dials()[1].at.Sub(at))
		require.NoError(t, stop())
	})
}

func TestHandshakeRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTCS(&wsconn.HandshakeError{Status: 400, Body: wire.EncodeHandshakeError("BadRequestException", "no")})
		stop := running(t, newTestSession(f, nil))
		<-f.accepted
		d := f.dials()
		require.Len(t, d, 2)
		assert.GreaterOrEqual(t, d[1].at.Sub(d[0].at), DefaultBackoffMin)
		require.NoError(t, stop())

		err := classifyDialError(&wsconn.HandshakeError{Status: 400, Body: wire.EncodeHandshakeError("BadRequestException", "no")})
		var br *wire.BadRequestException
		require.True(t, errors.As(err, &br))
	})
}

func TestInstanceStatusChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		docker := errors.New("docker ping: connection refused")
		var dockerErr error = docker
		tr := newStatusTracker([]Check{
			{Type: StatusTypeContainerRuntime, Probe: func(context.Context) error { return dockerErr }},
			{Type: StatusTypeAgent, Probe: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		})
		t0 := time.Now()
		got := tr.check(t.Context(), t0)
		assert.Equal(t, wire.InstanceStatus{Type: StatusTypeContainerRuntime, Status: wire.InstanceHealthcheckStatusImpaired,
			StatusReason: docker.Error(), LastUpdated: wire.At(t0), LastStatusChange: wire.At(t0)}, got[0])
		assert.Equal(t, wire.InstanceHealthcheckStatusImpaired, got[1].Status, "a probe that hangs is cut at the timeout")

		dockerErr = nil
		t1 := time.Now()
		got = tr.check(t.Context(), t1)
		assert.Equal(t, wire.InstanceHealthcheckStatusOk, got[0].Status)
		assert.Equal(t, wire.At(t1), got[0].LastStatusChange)
		got = tr.check(t.Context(), t1.Add(time.Minute))
		assert.Equal(t, wire.At(t1), got[0].LastStatusChange, "unchanged status keeps its change time")
		assert.Equal(t, wire.At(t1.Add(time.Minute)), got[0].LastUpdated)
	})
}
