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
