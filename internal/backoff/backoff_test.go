package backoff

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextGrowsToMaxWithinJitter(t *testing.T) {
	b := New(100*time.Millisecond, time.Second, 2, 0.2)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, base := range want {
		base *= time.Millisecond
		got := b.Next()
		if got < base || got > base+base/5 {
			t.Fatalf("delay %d = %s, want in [%s, %s]", i, got, base, base+base/5)
		}
	}
	b.Reset()
	if got := b.Next(); got < 100*time.Millisecond || got > 120*time.Millisecond {
		t.Fatalf("delay after Reset = %s, want the minimum", got)
	}
}

func TestJittered(t *testing.T) {
	if got := Jittered(time.Minute, 0); got != time.Minute {
		t.Fatalf("Jittered without jitter = %s", got)
	}
	for range 100 {
		if got := Jittered(time.Minute, time.Minute); got < time.Minute || got >= 2*time.Minute {
			t.Fatalf("Jittered = %s, want in [1m, 2m)", got)
		}
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		if !Sleep(ctx, time.Hour) {
			t.Fatal("Sleep with a live context reported an interrupted wait")
		}
		cancel()
		if Sleep(ctx, time.Hour) {
			t.Fatal("Sleep with a cancelled context reported a full wait")
		}
		if Sleep(ctx, 0) {
			t.Fatal("Sleep(0) with a cancelled context reported a full wait")
		}
	})
}

func TestReconnectBacksOffAfterShortSessions(t *testing.T) {
	r := NewReconnect(New(time.Second, time.Minute, 2, 0), time.Minute, 0)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		// A dial that failed, and sessions that closed at once, back off alike.
		connected := []time.Duration{0, time.Millisecond, 59 * time.Second}[i]
		if got := r.Next(connected); got != want {
			t.Fatalf("wait after a %s session = %s, want %s", connected, got, want)
		}
	}
}

func TestReconnectIsImmediateAfterAStableSession(t *testing.T) {
	r := NewReconnect(New(time.Second, time.Minute, 2, 0), time.Minute, 0)
	r.Next(0)
	r.Next(0)
	if got := r.Next(time.Minute); got != 0 {
		t.Fatalf("wait after a one-minute session = %s, want an immediate reconnect", got)
	}
	if got := r.Next(0); got != time.Second {
		t.Fatalf("wait after the next failure = %s, want the minimum: the stable session reset the backoff", got)
	}
}

func TestReconnectStableThresholdIsJittered(t *testing.T) {
	r := NewReconnect(New(time.Second, time.Minute, 2, 0), time.Minute, time.Minute)
	if got := r.Next(2 * time.Minute); got != 0 {
		t.Fatalf("a session beyond threshold plus jitter waited %s", got)
	}
	if got := r.Next(time.Minute - time.Nanosecond); got == 0 {
		t.Fatal("a session shorter than the threshold reconnected at once")
	}
}
