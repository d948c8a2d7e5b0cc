package typed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type color string

func (color) Values() []color { return []color{"red", "green"} }

type inner struct {
	Name  *string
	Count int32
}

type sample struct {
	B      bool
	I8     int8
	I32    int32
	I64    int64
	N      int
	U8     uint8
	F32    float32
	F64    float64
	S      string
	Color  color
	Other  color
	P      *int64
	Nil    *int64
	List   []inner
	Map    map[string]string
	When   *time.Time
	hidden int // unexported: neither read nor written
	Any    any
}

func TestRoundTrip(t *testing.T) {
	name, n := "app", int64(-7)
	when := time.Unix(1700000000, 0).UTC()
	v := sample{B: true, I8: -3, I32: -1 << 30, I64: 1 << 60, N: -5, U8: 200, F32: 0.5, F64: -1e300,
		S: "hello", Color: "green", Other: "blue", P: &n,
		List: []inner{{Name: &name, Count: 3}, {}}, Map: map[string]string{"b": "2", "a": "1"}, When: &when}
	var got sample
	rest := Decode(Encode(v), &got)
	assert.Empty(t, rest)
	assert.Equal(t, v, got)
	got = sample{}
	Decode(Encode(&v), &got)
	assert.Equal(t, v, got, "a pointer encodes as its value")
	v.List, v.Map = []inner{}, map[string]string{}
	got = sample{}
	Decode(Encode(v), &got)
	assert.Equal(t, v, got, "empty collections stay empty, not nil")
	v.hidden = 1
	got = sample{}
	Decode(Encode(v), &got)
	assert.Zero(t, got.hidden)
}

func TestEveryInputDecodes(t *testing.T) {
	for _, data := range [][]byte{nil, {0xff}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte("arbitrary bytes of any kind")} {
		var v sample
		assert.NotPanics(t, func() { Decode(data, &v) })
	}
	var v sample
	Decode(nil, &v)
	assert.Equal(t, sample{}, v, "exhausted bytes give zero values")
}

func TestEnumPicksAValue(t *testing.T) {
	var v struct{ C color }
	Decode([]byte{2}, &v)
	assert.Equal(t, color("green"), v.C)
	Decode([]byte{4}, &v) // wraps around the values
	assert.Equal(t, color("green"), v.C)
	Decode([]byte{0, 3, 'r', 'e', 'd'}, &v)
	assert.Equal(t, color("red"), v.C)
}

func TestCollectionsAreBounded(t *testing.T) {
	var v struct{ L []int64 }
	Decode([]byte{0xff, 0xff, 0x03}, &v) // asks for 65534 items
	assert.Len(t, v.L, MaxItems)
}
