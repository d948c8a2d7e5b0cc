package acs

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closingServer accepts every session and closes it at once with code, as a
// broken server or proxy does. It stops the session (cancel) once it has seen
// more than maxDials, so that a reconnect storm ends the test instead of
// spinning forever in the bubble, where no time passes while the loop runs.
func closingServer(ctx context.Context, f *fakeACS, code int, maxDials int, cancel context.CancelFunc) {
	go func() {
		for {
			var server *memConn
			select {
			case server = <-f.accepted:
			case <-ctx.Done():
				return
			}
			_ = server.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "closing at once"), time.Time{})
			_ = server.Close()
			if len(f.dials()) > maxDials {
				cancel()
				return
			}
		}
	}()
}

// TestNoReconnectStorm: a server that closes every session at once with a
// "normal" code must see a bounded number of dials, not one per scheduler
// tick. The reference backoff (250 ms ×1.5 up to 2 min, jitter 0.2) allows
// 12 to 13 dials in the first minute and 1 every 2 to 2.4 min once at the
// maximum.
func TestNoReconnectStorm(t *testing.T) {
	for _, code := range []int{websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseInternalServerErr} {
		t.Run(closeName(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeACS()
				s := newTestSession(f, func(o *Options) {
					o.BackoffMin, o.BackoffMax = DefaultBackoffMin, DefaultBackoffMax
				})
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				closingServer(ctx, f, code, 1000, cancel)
				done := make(chan error, 1)
				go func() { done <- s.Run(ctx) }()

				time.Sleep(time.Minute)
				firstMinute := len(f.dials())
				time.Sleep(9 * time.Minute)
				total := len(f.dials())
				cancel()
				require.NoError(t, <-done)

				t.Logf("dials: %d in the first minute, %d in 10 minutes", firstMinute, total)
				require.Less(t, total, 1000, "a reconnect storm: %d dials", total)
				assert.LessOrEqual(t, firstMinute, 14, "dials in the first minute")
				assert.GreaterOrEqual(t, firstMinute, 10, "the backoff starts small")
				// Minutes 1 to 10: the delays grow to the 2 min maximum.
				assert.LessOrEqual(t, total-firstMinute, 10, "dials in minutes 1 to 10")
				d := f.dials()
				last := d[len(d)-1].at.Sub(d[len(d)-2].at)
				assert.GreaterOrEqual(t, last, DefaultBackoffMax, "the delay reached the maximum")
			})
		})
	}
}

func closeName(code int) string { return fmt.Sprint(code) }

// TestReconnectAfterLongSessionIsImmediate: a session that was up for a
// while is redialled at once when it ends, whatever ended it, and its end
// resets the backoff that earlier short sessions had grown.
func TestReconnectAfterLongSessionIsImmediate(t *testing.T) {
	for _, code := range []int{websocket.CloseNormalClosure, websocket.CloseInternalServerErr, websocket.ClosePolicyViolation} {
		t.Run(closeName(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeACS()
				stop, _ := running(t, newTestSession(f, func(o *Options) {
					o.HeartbeatTimeout = time.Hour // only the server ends sessions
				}))
				// Three sessions closed at once grow the backoff.
				for range 3 {
					server := <-f.accepted
					require.NoError(t, server.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Time{}))
				}
				server := <-f.accepted
				d := f.dials()
				require.Len(t, d, 4)
				assert.GreaterOrEqual(t, d[3].at.Sub(d[2].at), 2*10*time.Second, "short sessions back off (min 10s ×1.5 ×1.5)")

				time.Sleep(2 * backoffResetAfter) // a session past the stable threshold and its jitter
				closedAt := time.Now()
				require.NoError(t, server.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Time{}))
				server = <-f.accepted
				d = f.dials()
				require.Len(t, d, 5)
				assert.Equal(t, closedAt, d[4].at, "the end of a long session is redialled at once")

				// The backoff was reset: the next short session waits the minimum.
				require.NoError(t, server.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Time{}))
				closedAt = time.Now()
				<-f.accepted
				waited := f.dials()[5].at.Sub(closedAt)
				assert.GreaterOrEqual(t, waited, 10*time.Second)
				assert.LessOrEqual(t, waited, 12*time.Second, "the minimum delay plus at most 20% jitter")
				require.NoError(t, stop())
			})
		})
	}
}
