// Package fuzzbound makes fuzz targets fail on inputs that allocate too
// much. Go's fuzzer reports panics, failed assertions and hangs, but an
// input that makes a decoder allocate a gigabyte passes unnoticed unless the
// worker runs out of memory. Each target measures what one call allocates
// and fails above a bound that fits the code it fuzzes: a fixed part for
// what any input costs, plus a part that grows with the input, chosen from
// what legitimate inputs need (docs/fuzzing.md lists each target's bound).
//
// The measure is the runtime's count of heap bytes allocated
// (runtime.MemStats.TotalAlloc) before and after the call. It counts every
// goroutine, so a call that starts goroutines is measured with them, and a
// target must not run anything else at the same time; fuzz targets do not.
package fuzzbound

import (
	"fmt"
	"runtime"
	"testing"
)

// Bound is the most one call may allocate: Fixed bytes plus PerByte bytes
// for each byte of its input.
type Bound struct {
	Fixed   uint64
	PerByte uint64
}

// For returns the bound for an input of n bytes.
func (b Bound) For(n int) uint64 {
	return b.Fixed + b.PerByte*uint64(max(n, 0))
}

// String describes the bound, for failure messages.
func (b Bound) String() string {
	return fmt.Sprintf("%s + %d bytes per input byte", size(b.Fixed), b.PerByte)
}

// Allocated runs fn and returns the heap bytes allocated while it ran.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Check runs fn and fails t when it allocated more than b allows for an
// input of n bytes. It returns what fn allocated.
//
// A call over the bound is run once more and fails only if it is over the
// bound again: the first call of a code path pays for caches built once per
// process (encoding/json's per-type decoders, compiled regular
// expressions), which no input can make grow. fn must therefore give the
// same result when it runs twice.
func Check(t testing.TB, b Bound, n int, fn func()) uint64 {
	t.Helper()
	limit := b.For(n)
	got := Allocated(fn)
	if got <= limit {
		return got
	}
	if got = Allocated(fn); got > limit {
		t.Fatalf("one call allocated %s for an input of %d bytes; the bound is %s (%s)",
			size(got), n, size(limit), b)
	}
	return got
}

// size prints a byte count the way people read it.
func size(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
