package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

const testInstanceARN = "arn:aws:ecs:us-west-2:123456789012:container-instance/default/0123456789abcdef0123456789abcdef"

var testCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Source: "test"}, nil
})

func newTestSession(f *fakeACS, mut func(*Options)) *Session {
	o := Options{
		DiscoverEndpoint: func(context.Context) (string, error) {
			return "https://ecs-a-1.us-west-2.amazonaws.com", nil
		},
		Cluster:              "default",
		ContainerInstanceARN: testInstanceARN,
		AgentVersion:         "0.1.0",
		AgentHash:            "abc123",
		DockerVersion:        "20.10.5",
		Region:               "us-west-2",
		Credentials:          testCreds,
		HeartbeatTimeout:     45 * time.Second,
		MaxLifetime:          time.Hour,
		BackoffMin:           10 * time.Second,
		BackoffMax:           time.Minute,
	}
	if mut != nil {
		mut(&o)
	}
	s := NewSession(o)
	s.dial = f.dial
	return s
}

// running starts Run in the bubble and returns a stop function that cancels
// it and returns Run's result.
func running(t *testing.T, s *Session) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	return func() error { cancel(); return <-ch }, ch
}

func sendTo(t *testing.T, c *memConn, msg any) {
	t.Helper()
	frame, err := wire.Encode(msg)
	require.NoError(t, err)
	require.NoError(t, c.WriteMessage(websocket.TextMessage, frame))
}

func readFrom(t *testing.T, c *memConn) (any, error) {
	t.Helper()
	_, data, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	msg, err := wire.Decode(data)
	require.NoError(t, err)
	return msg, nil
}

func heartbeat(id string) *wire.HeartbeatMessage {
	ok := true
	return &wire.HeartbeatMessage{Healthy: &ok, MessageID: id}
}

func TestHeartbeatIsAcked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, nil))
		server := <-f.accepted

		sendTo(t, server, heartbeat("h1"))
		got, err := readFrom(t, server)
		require.NoError(t, err)
		assert.Equal(t, &wire.HeartbeatAckRequest{MessageID: "h1"}, got)

		require.NoError(t, stop())
		// The agent said goodbye with a normal close.
		_, err = readFrom(t, server)
		assert.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "got %v", err)
	})
}

func TestHeartbeatsKeepConnectionAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, nil))
		server := <-f.accepted
		for i := range 10 {
			time.Sleep(30 * time.Second)
			sendTo(t, server, heartbeat(string(rune('a'+i))))
			_, err := readFrom(t, server)
			require.NoError(t, err)
		}
		assert.Len(t, f.dials(), 1)
		require.NoError(t, stop())
	})
}

func TestIdleConnectionIsClosedAndReconnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, nil))
		server := <-f.accepted

		_, err := readFrom(t, server) // nothing is sent, so the next frame is the close
		require.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "got %v", err)

		<-f.accepted // it comes back
		d := f.dials()
		require.Len(t, d, 2)
		assert.Contains(t, d[0].url, "sendCredentials=true")
		assert.Contains(t, d[1].url, "sendCredentials=false")
		require.NoError(t, stop())
	})
}

func TestMaxLifetimeClosesWithConnectionExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, func(o *Options) {
			o.MaxLifetime = 5 * time.Minute
			o.HeartbeatTimeout = time.Hour // only the lifetime can end this connection
		}))
		server := <-f.accepted
		_, closeErr := readFrom(t, server)
		var ce *websocket.CloseError
		require.ErrorAs(t, closeErr, &ce)
		assert.Equal(t, websocket.CloseNormalClosure, ce.Code)
		assert.Equal(t, ConnectionExpiredReason, ce.Text)
		closedAt := time.Now()

		<-f.accepted
		d := f.dials()
		require.Len(t, d, 2)
		assert.Less(t, d[1].at.Sub(closedAt), 10*time.Second, "a normal close reconnects without backoff")
		require.NoError(t, stop())
	})
}

// TestShortSessionsBackOffWhateverTheCloseCode: a session closed right
// after it started waits the backoff, however normal its close code; the
// close code does not decide (see TestNoReconnectStorm).
func TestShortSessionsBackOffWhateverTheCloseCode(t *testing.T) {
	for _, code := range []int{
		websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseInternalServerErr,
		websocket.ClosePolicyViolation, 4000,
	} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeACS()
				stop, _ := running(t, newTestSession(f, nil))
				server := <-f.accepted
				require.NoError(t, server.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Time{}))
				closedAt := time.Now()
				<-f.accepted
				assert.GreaterOrEqual(t, f.dials()[1].at.Sub(closedAt), 10*time.Second)
				require.NoError(t, stop())
			})
		})
	}
}

func TestPeerVanishingBacksOffAfterAShortSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, nil))
		server := <-f.accepted
		closedAt := time.Now()
		require.NoError(t, server.Close()) // 1006 on the agent side
		<-f.accepted
		assert.GreaterOrEqual(t, f.dials()[1].at.Sub(closedAt), 10*time.Second)
		require.NoError(t, stop())
	})
}

func handshakeReject(code, msg string) error {
	return &wsconn.HandshakeError{Status: http.StatusBadRequest, Body: wire.EncodeHandshakeError(code, msg)}
}

func TestUnretriableHandshakeErrorsEndRun(t *testing.T) {
	for _, code := range []string{"InvalidClusterException", "InvalidInstanceException", "AccessDeniedException"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeACS(handshakeReject(code, "no"))
				_, done := running(t, newTestSession(f, nil))
				err := <-done
				require.ErrorIs(t, err, ErrTerminal)
				var exc wire.Exception
				require.ErrorAs(t, err, &exc)
				assert.Equal(t, code, exc.ErrorCode())
			})
		})
	}
}

func TestInactiveInstanceWaitsAnHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS(handshakeReject("InactiveInstanceException", "deregistered"))
		var inactive atomic.Int32
		stop, _ := running(t, newTestSession(f, func(o *Options) {
			o.OnInactiveInstance = func() { inactive.Add(1) }
		}))
		<-f.accepted
		d := f.dials()
		require.Len(t, d, 2)
		assert.GreaterOrEqual(t, d[1].at.Sub(d[0].at), time.Hour)
		assert.Equal(t, int32(1), inactive.Load())
		require.NoError(t, stop())
	})
}

func TestRetriableErrorsBackOffIncreasingly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("connection refused")
		f := newFakeACS(boom, boom, boom, boom)
		var connected atomic.Int32
		stop, _ := running(t, newTestSession(f, func(o *Options) {
			o.OnConnected = func() { connected.Add(1) }
		}))
		<-f.accepted
		synctest.Wait() // let OnConnected run
		d := f.dials()
		require.Len(t, d, 5)
		for i := 2; i < len(d); i++ {
			assert.Greater(t, d[i].at.Sub(d[i-1].at), d[i-1].at.Sub(d[i-2].at))
		}
		assert.Equal(t, int32(1), connected.Load())
		require.NoError(t, stop())
	})
}

func TestDiscoverErrorIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		var calls atomic.Int32
		stop, _ := running(t, newTestSession(f, func(o *Options) {
			o.DiscoverEndpoint = func(context.Context) (string, error) {
				if calls.Add(1) == 1 {
					return "", errors.New("DPE unavailable")
				}
				return "http://127.0.0.1:51677/", nil
			}
		}))
		<-f.accepted
		d := f.dials()
		require.Len(t, d, 1)
		assert.True(t, strings.HasPrefix(d[0].url, "ws://127.0.0.1:51677/ws?"), d[0].url)
		require.NoError(t, stop())
	})
}

func TestMessagesGoToHandlerAndSendReplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		got := make(chan any, 4)
		var s *Session
		s = newTestSession(f, func(o *Options) {
			o.Handler = func(ctx context.Context, msg any) {
				got <- msg
				if p, ok := msg.(*wire.PayloadMessage); ok {
					assert.NoError(t, s.Send(ctx, wire.AckRequest{MessageID: p.MessageID}))
				}
			}
		})
		assert.ErrorIs(t, s.Send(t.Context(), wire.AckRequest{}), ErrNotConnected)
		stop, _ := running(t, s)
		server := <-f.accepted

		sendTo(t, server, &wire.PayloadMessage{MessageID: "p1", SeqNum: 3})
		assert.Equal(t, &wire.PayloadMessage{MessageID: "p1", SeqNum: 3}, <-got)
		reply, err := readFrom(t, server)
		require.NoError(t, err)
		assert.Equal(t, &wire.AckRequest{MessageID: "p1"}, reply)

		sendTo(t, server, heartbeat("h1")) // answered by the session, not the handler
		reply, err = readFrom(t, server)
		require.NoError(t, err)
		assert.Equal(t, &wire.HeartbeatAckRequest{MessageID: "h1"}, reply)
		assert.Empty(t, got)
		require.NoError(t, stop())
	})
}

func TestWithoutHandlerPayloadsAreNotAckedAndUnknownTypesDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeACS()
		stop, _ := running(t, newTestSession(f, nil))
		server := <-f.accepted
		sendTo(t, server, &wire.PayloadMessage{MessageID: "p1"})
		require.NoError(t, server.WriteMessage(websocket.TextMessage, []byte(`{"type":"FutureMessage","message":{}}`)))
		sendTo(t, server, heartbeat("h2"))
		reply, err := readFrom(t, server)
		require.NoError(t, err)
		assert.Equal(t, &wire.HeartbeatAckRequest{MessageID: "h2"}, reply)
		assert.Len(t, f.dials(), 1)
		require.NoError(t, stop())
	})
}
