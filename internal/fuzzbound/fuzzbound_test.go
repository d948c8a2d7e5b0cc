package fuzzbound

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

var sink []byte

func TestAllocatedCountsTheCall(t *testing.T) {
	got := Allocated(func() { sink = make([]byte, 1<<20) })
	assert.GreaterOrEqual(t, got, uint64(1<<20))
	assert.Less(t, got, uint64(2<<20), "the measure is of the call, not of the process")
}

func TestBoundFor(t *testing.T) {
	b := Bound{Fixed: 100, PerByte: 3}
	assert.Equal(t, uint64(100), b.For(0))
	assert.Equal(t, uint64(130), b.For(10))
	assert.Equal(t, uint64(100), b.For(-1))
	assert.Equal(t, "100 B + 3 bytes per input byte", b.String())
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	_ = args
}

func TestCheckFailsOverTheBound(t *testing.T) {
	r := &recorder{TB: t}
	Check(r, Bound{Fixed: 64 << 10}, 0, func() { sink = make([]byte, 1<<20) })
	assert.True(t, strings.Contains(r.failed, "the bound is"), "a call over the bound fails the target")

	r = &recorder{TB: t}
	got := Check(r, Bound{Fixed: 64 << 10, PerByte: 2}, 1<<20, func() { sink = make([]byte, 1<<20) })
	assert.Empty(t, r.failed, "the per-byte part grows with the input")
	assert.GreaterOrEqual(t, got, uint64(1<<20))
}

func TestCheckForgivesOneTimeCosts(t *testing.T) {
	r := &recorder{TB: t}
	first := true
	Check(r, Bound{Fixed: 64 << 10}, 0, func() {
		if first {
			first = false
			sink = make([]byte, 1<<20) // a cache built once
		}
	})
	assert.Empty(t, r.failed, "what only the first call allocates does not count")
}
