package ecsapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Amazon ECS ignores request members it does not know. This control plane
// serves only part of the model, so ignoring a member would run a task or
// create a resource without something the caller asked for (RunTask with
// enableExecuteCommand, say, would start a task nobody can exec into).
// Every operation therefore refuses a top-level member that its input type
// does not decode, unless the member asks for nothing (null, false, 0, "",
// [] or {}). Nested members are the business of each operation: task
// definitions have their own member tables (taskdefs_members.go).

// unsupportedMembers returns the top-level members of body that v's type
// does not decode and that carry a value, sorted.
func unsupportedMembers(body []byte, v any) []string {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return nil // not an object: decode reports it
	}
	known := jsonMembers(reflect.TypeOf(v))
	var out []string
	for name, raw := range members {
		if known[strings.ToLower(name)] || asksForNothing(raw) {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// asksForNothing reports whether a member's value is its type's zero value.
func asksForNothing(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "null", "false", "0", `""`:
		return true
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return len(list) == 0
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		return len(obj) == 0
	}
	return false
}

var memberCache sync.Map // reflect.Type → map[string]bool

// jsonMembers returns the lower-cased JSON names a struct type decodes,
// embedded structs included (encoding/json matches names without regard
// to case, so the comparison does too).
func jsonMembers(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if cached, ok := memberCache.Load(t); ok {
		return cached.(map[string]bool)
	}
	names := map[string]bool{}
	collectMembers(t, names)
	memberCache.Store(t, names)
	return names
}

func collectMembers(t reflect.Type, names map[string]bool) {
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectMembers(ft, names)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		names[strings.ToLower(tag)] = true
	}
}
