// Package typed turns a fuzzer's bytes into a typed value, such as an AWS
// SDK request, and a value back into the bytes that make it. A target
// that fuzzes typed requests this way gets past the JSON layer that byte
// mutations of a request body rarely keep valid: every input is a
// well-formed request, and mutations change its values and its shape.
//
// The bytes are read field by field, in declaration order:
//
//	bool               1 byte, odd is true
//	integers, floats   their size in bytes, little-endian (floats as IEEE bits)
//	string             uvarint length, then the bytes
//	enum string        1 byte: 0 then a string, or k to pick the k-th of Values()
//	pointer            1 byte, odd: present, then the value
//	slice, map         uvarint: 0 for nil, else 1 + the count (at most MaxItems),
//	                   then the items (maps: key, value)
//	struct             each exported field; interfaces, funcs and channels stay nil
//	time.Time          int64 Unix seconds
//
// When the bytes run out every remaining value is its zero value, so any
// byte string decodes. Encode writes the bytes that Decode reads back into
// an equal value (maps are written in key order).
package typed

import (
	"encoding/binary"
	"math"
	"reflect"
	"sort"
	"sync"
	"time"
)

// MaxItems bounds the items of one slice or map, so that a few bytes cannot
// ask for a huge collection of zero values.
const MaxItems = 256

var timeType = reflect.TypeFor[time.Time]()

// Decode fills *v (v must be a non-nil pointer) from data and returns the
// bytes it did not use.
func Decode(data []byte, v any) []byte {
	r := &reader{b: data}
	r.value(reflect.ValueOf(v).Elem())
	return r.b
}

// Encode returns the bytes from which Decode rebuilds v. v is the value,
// or a pointer to it, as given to Decode.
func Encode(v any) []byte {
	w := &writer{}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	w.value(rv)
	return w.b
}

var enums sync.Map // reflect.Type -> []reflect.Value

// enumValues returns the values of t's Values method (the SDKs' enums), or nil.
func enumValues(t reflect.Type) []reflect.Value {
	if v, ok := enums.Load(t); ok {
		return v.([]reflect.Value)
	}
	v := callValues(t)
	enums.Store(t, v)
	return v
}

func callValues(t reflect.Type) []reflect.Value {
	m, ok := t.MethodByName("Values")
	if !ok || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.Slice {
		return nil
	}
	list := m.Func.Call([]reflect.Value{reflect.Zero(t)})[0]
	out := make([]reflect.Value, list.Len())
	for i := range out {
		out[i] = list.Index(i)
	}
	return out
}

type reader struct{ b []byte }

func (r *reader) bytes(n int) []byte {
	out := make([]byte, 8)
	copy(out, r.b[:min(n, len(r.b))])
	r.b = r.b[min(n, len(r.b)):]
	return out
}

func (r *reader) uvarint() uint64 {
	n, size := binary.Uvarint(r.b)
	if size <= 0 {
		r.b = nil
		return 0
	}
	r.b = r.b[size:]
	return n
}

// count reads a collection's size: -1 for nil.
func (r *reader) count() int {
	return int(min(r.uvarint(), MaxItems+1)) - 1
}

func (r *reader) value(v reflect.Value) {
	t := v.Type()
	if t == timeType {
		v.Set(reflect.ValueOf(time.Unix(int64(binary.LittleEndian.Uint64(r.bytes(8))), 0).UTC()))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.bytes(1)[0]&1 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		u := binary.LittleEndian.Uint64(r.bytes(int(t.Size())))
		shift := 64 - 8*t.Size()
		v.SetInt(int64(u<<shift) >> shift)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(binary.LittleEndian.Uint64(r.bytes(int(t.Size()))))
	case reflect.Float32:
		v.SetFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(r.bytes(4)))))
	case reflect.Float64:
		v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8))))
	case reflect.String:
		if values := enumValues(t); values != nil {
			if k := int(r.bytes(1)[0]); k > 0 {
				v.Set(values[(k-1)%len(values)])
				return
			}
		}
		n := min(r.uvarint(), uint64(len(r.b)))
		v.SetString(string(r.b[:n]))
		r.b = r.b[n:]
	case reflect.Pointer:
		if r.bytes(1)[0]&1 == 1 {
			v.Set(reflect.New(t.Elem()))
			r.value(v.Elem())
		}
	case reflect.Slice:
		n := r.count()
		if n < 0 {
			return
		}
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			r.value(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		n := r.count()
		if n < 0 {
			return
		}
		m := reflect.MakeMapWithSize(t, n)
		for range n {
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			r.value(k)
			r.value(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				r.value(v.Field(i))
			}
		}
	}
}

type writer struct{ b []byte }

func (w *writer) fixed(u uint64, n int) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], u)
	w.b = append(w.b, buf[:n]...)
}

func (w *writer) value(v reflect.Value) {
	t := v.Type()
	if t == timeType {
		w.fixed(uint64(v.Interface().(time.Time).Unix()), 8)
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		b := uint64(0)
		if v.Bool() {
			b = 1
		}
		w.fixed(b, 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.fixed(uint64(v.Int()), int(t.Size()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.fixed(v.Uint(), int(t.Size()))
	case reflect.Float32:
		w.fixed(uint64(math.Float32bits(float32(v.Float()))), 4)
	case reflect.Float64:
		w.fixed(math.Float64bits(v.Float()), 8)
	case reflect.String:
		if values := enumValues(t); values != nil {
			for i, e := range values {
				if e.String() == v.String() && i < 255 {
					w.fixed(uint64(i+1), 1)
					return
				}
			}
			w.fixed(0, 1)
		}
		w.b = binary.AppendUvarint(w.b, uint64(v.Len()))
		w.b = append(w.b, v.String()...)
	case reflect.Pointer:
		if v.IsNil() {
			w.fixed(0, 1)
			return
		}
		w.fixed(1, 1)
		w.value(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			w.fixed(0, 1)
			return
		}
		n := min(v.Len(), MaxItems)
		w.b = binary.AppendUvarint(w.b, uint64(n+1))
		for i := range n {
			w.value(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			w.fixed(0, 1)
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		keys = keys[:min(len(keys), MaxItems)]
		w.b = binary.AppendUvarint(w.b, uint64(len(keys)+1))
		for _, k := range keys {
			w.value(k)
			w.value(v.MapIndex(k))
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				w.value(v.Field(i))
			}
		}
	}
}
