// Package wsframetest helps the tests of the wire packages built on wsframe
// (acs/wire, tcs/wire): filling every field of a shape for round trips, and
// finding the protocol model their generated types must match.
package wsframetest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Fill sets every field reachable from v to a non-zero value so that a round
// trip exercises every json tag. Fields tagged json:"-" are left alone: they
// are never encoded. special, when set, is asked first about every value and
// fills it itself by returning true (a type with its own encoding, such as
// TCS's Timestamp).
func Fill(v reflect.Value, depth int, special func(v reflect.Value, depth int) bool) {
	if special != nil && special(v, depth) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		Fill(v.Elem(), depth, special)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("json") == "-" {
				continue
			}
			Fill(v.Field(i), depth+1, special)
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", depth))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(7 + depth))
	case reflect.Float64:
		v.SetFloat(0.25)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			Fill(s.Index(i), depth+1, special)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		Fill(k, depth, special)
		e := reflect.New(v.Type().Elem()).Elem()
		Fill(e, depth+1, special)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// ModelPath finds service's model file (for example "ACS",
// "acs-api-2.json"): $<service>_MODEL, else shared/protocol/<file> in the
// working directory or any directory above it (the protocol documents live
// beside the checkout, or beside a directory of worktrees). Without it the
// test skips, except under CI=true, where a missing model is a failure.
func ModelPath(t testing.TB, service, file string) string {
	t.Helper()
	env := service + "_MODEL"
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return p
	}
	if p, ok := findUp(filepath.Join("shared", "protocol", file)); ok {
		return p
	}
	msg := fmt.Sprintf("the %s model %s is not in shared/protocol beside the checkout; set %s to check types_gen.go against it", service, file, env)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// findUp looks for rel in the working directory and each of its parents.
func findUp(rel string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
