package wire

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// UnmarshalJSON decodes a Task as encoding/json does and records in
// UnknownMembers every member, at any depth, that the model does not have.
// encoding/json drops such members without a word; a task that asks for
// something this code does not know must be refused, not run without it.
// Member names match case-insensitively, as encoding/json matches them, so
// a member counts as unknown exactly when decoding would drop it.
func (t *Task) UnmarshalJSON(b []byte) error {
	type plain Task // the same fields without this method
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	t.UnknownMembers = unknownMembers(b, "Task", "", nil)
	return nil
}

// unknownMembers appends to out the paths of the members in raw, a value of
// ref ("X", "[]X" or "map:X" for a structure shape X, as in modelMembers),
// that the model lacks. Values of the wrong JSON type were already refused
// by the typed decode, so a value that does not parse here is skipped.
func unknownMembers(raw []byte, ref, path string, out []string) []string {
	switch {
	case strings.HasPrefix(ref, "[]"):
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return out
		}
		for i, item := range items {
			out = unknownMembers(item, ref[2:], path+"["+strconv.Itoa(i)+"]", out)
		}
		return out
	case strings.HasPrefix(ref, "map:"):
		var items map[string]json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return out
		}
		for _, k := range sortedKeys(items) {
			out = unknownMembers(items[k], ref[4:], path+"["+strconv.Quote(k)+"]", out)
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return out
	}
	members := modelMembers[ref]
	for _, k := range sortedKeys(obj) {
		name, ok := memberName(members, k)
		p := k
		if path != "" {
			p = path + "." + k
		}
		if !ok {
			out = append(out, p)
			continue
		}
		if inner := members[name]; inner != "" {
			out = unknownMembers(obj[k], inner, p, out)
		}
	}
	return out
}

// memberName finds the model member that encoding/json would decode key
// into: the exact name, else one that differs only in case.
func memberName(members map[string]string, key string) (string, bool) {
	if _, ok := members[key]; ok {
		return key, true
	}
	for name := range members {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
