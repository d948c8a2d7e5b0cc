package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// codec moves one setting between its text form (environment, ecs.config),
// its JSON-file form and the Config field. parse and decodeJSON return a
// note when they had to adjust the value (the incumbent silently resets some
// out-of-range values; we do the same but say so), and an error when the
// value is unusable.
type codec interface {
	parse(c *Config, s string) (note string, err error)
	decodeJSON(c *Config, field string, raw json.RawMessage) (note string, err error)
	format(c *Config) string
	expect() string
	typ() string // the value syntax, for docs/configuration.md
}

var errBad = errors.New("bad value")

// field is the codec for a setting stored in a single Config field of type T.
type field[T any] struct {
	ptr      func(*Config) *T
	text     func(string) (T, error)
	json     func(json.RawMessage) (T, error) // nil: encoding/json
	str      func(T) string
	check    func(T) bool        // nil: every parsed value is fine
	adjust   func(T) (T, string) // nil: no adjustment
	expected string
	kind     string
}

func (f field[T]) parse(c *Config, s string) (string, error) {
	v, err := f.text(s)
	if err != nil {
		return "", err
	}
	return f.store(c, v)
}

func (f field[T]) decodeJSON(c *Config, _ string, raw json.RawMessage) (string, error) {
	var v T
	var err error
	if f.json != nil {
		v, err = f.json(raw)
	} else {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return "", err
	}
	return f.store(c, v)
}

func (f field[T]) store(c *Config, v T) (string, error) {
	if f.check != nil && !f.check(v) {
		return "", errBad
	}
	note := ""
	if f.adjust != nil {
		v, note = f.adjust(v)
	}
	*f.ptr(c) = v
	return note, nil
}

func (f field[T]) format(c *Config) string { return f.str(*f.ptr(c)) }
func (f field[T]) expect() string          { return f.expected }
func (f field[T]) typ() string             { return f.kind }

// --- constructors, one per value syntax ---

func stringOf(p func(*Config) *string) field[string] {
	return field[string]{ptr: p, text: identity, str: plain, expected: "a string", kind: "string"}
}

// enumOf accepts one of allowed, case-insensitively, and stores it lower-cased.
func enumOf(p func(*Config) *string, allowed ...string) field[string] {
	return field[string]{
		ptr:      p,
		text:     func(s string) (string, error) { return strings.ToLower(s), nil },
		json:     func(raw json.RawMessage) (string, error) { s, err := jsonString(raw); return strings.ToLower(s), err },
		str:      plain,
		check:    func(s string) bool { return slices.Contains(allowed, s) },
		expected: oneOf(allowed),
		kind:     strings.Join(allowed, ", "),
	}
}

func boolOf(p func(*Config) *bool) field[bool] {
	return field[bool]{
		ptr:  p,
		text: strconv.ParseBool,
		json: func(raw json.RawMessage) (bool, error) {
			var b bool
			if json.Unmarshal(raw, &b) == nil {
				return b, nil
			}
			s, err := jsonString(raw)
			if err != nil {
				return false, err
			}
			return strconv.ParseBool(s)
		},
		str:      strconv.FormatBool,
		expected: "true or false",
		kind:     "bool",
	}
}

func intOf(p func(*Config) *int, lo, hi int) field[int] {
	return field[int]{
		ptr:      p,
		text:     strconv.Atoi,
		str:      strconv.Itoa,
		check:    func(n int) bool { return n >= lo && n <= hi },
		expected: fmt.Sprintf("an integer between %d and %d", lo, hi),
		kind:     "integer",
	}
}

func uint16Of(p func(*Config) *uint16, expected string) field[uint16] {
	return field[uint16]{
		ptr: p,
		text: func(s string) (uint16, error) {
			n, err := strconv.ParseUint(s, 10, 16)
			return uint16(n), err
		},
		str:      func(n uint16) string { return strconv.FormatUint(uint64(n), 10) },
		expected: expected,
		kind:     "integer",
	}
}

func positiveFloatOf(p func(*Config) *float64, expected string) field[float64] {
	return field[float64]{
		ptr:      p,
		text:     func(s string) (float64, error) { return strconv.ParseFloat(s, 64) },
		str:      func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) },
		check:    func(f float64) bool { return f > 0 },
		expected: expected,
		kind:     "number",
	}
}

// durationOf parses Go duration syntax ("30s", "1h30m"). In the JSON file an
// integer is nanoseconds, as in the incumbent; a string is also accepted.
func durationOf(p func(*Config) *time.Duration) field[time.Duration] {
	return field[time.Duration]{
		ptr:  p,
		text: time.ParseDuration,
		json: func(raw json.RawMessage) (time.Duration, error) {
			var ns int64
			if json.Unmarshal(raw, &ns) == nil {
				return time.Duration(ns), nil
			}
			s, err := jsonString(raw)
			if err != nil {
				return 0, err
			}
			return time.ParseDuration(s)
		},
		str:      formatDuration,
		check:    func(d time.Duration) bool { return d >= 0 },
		expected: "a duration such as 30s, 5m or 3h",
		kind:     "duration",
	}
}

// withMin resets values below lo to def, as the incumbent does, with a note.
func withMin(f field[time.Duration], lo, def time.Duration) field[time.Duration] {
	f.adjust = func(d time.Duration) (time.Duration, string) {
		if d < lo {
			return def, fmt.Sprintf("%s is below the minimum %s; using %s", formatDuration(d), formatDuration(lo), formatDuration(def))
		}
		return d, ""
	}
	return f
}

// clamped moves values outside [lo, hi] to the nearest bound, with a note.
func clamped(f field[time.Duration], lo, hi time.Duration) field[time.Duration] {
	f.adjust = func(d time.Duration) (time.Duration, string) {
		switch {
		case d < lo:
			return lo, fmt.Sprintf("%s is below the minimum; using %s", formatDuration(d), formatDuration(lo))
		case d > hi:
			return hi, fmt.Sprintf("%s is above the maximum; using %s", formatDuration(d), formatDuration(hi))
		}
		return d, ""
	}
	return f
}

func portsOf(p func(*Config) *[]uint16) field[[]uint16] {
	return field[[]uint16]{
		ptr:      p,
		text:     jsonText[[]uint16],
		str:      jsonFormat[[]uint16],
		check:    func(ps []uint16) bool { return !slices.Contains(ps, 0) },
		expected: "a JSON array of port numbers between 1 and 65535, like [22, 2375]",
		kind:     "JSON array of ports",
	}
}

// stringListOf parses a JSON array of strings; with allowed, each element
// must be one of them.
func stringListOf(p func(*Config) *[]string, allowed ...string) field[[]string] {
	f := field[[]string]{ptr: p, text: jsonText[[]string], str: jsonFormat[[]string], expected: `a JSON array of strings, like ["a", "b"]`, kind: "JSON array of strings"}
	if len(allowed) > 0 {
		f.check = func(l []string) bool {
			for _, s := range l {
				if !slices.Contains(allowed, s) {
					return false
				}
			}
			return true
		}
		f.expected = "a JSON array whose elements are " + oneOf(allowed)
	}
	return f
}

// commaListOf parses "a, b,c"; in the JSON file it is an array of strings.
func commaListOf(p func(*Config) *[]string) field[[]string] {
	return field[[]string]{
		ptr: p,
		text: func(s string) ([]string, error) {
			var out []string
			for _, part := range strings.Split(s, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
			return out, nil
		},
		str:      func(l []string) string { return strings.Join(l, ",") },
		expected: "a comma-separated list",
		kind:     "comma list",
	}
}

func mapOf(p func(*Config) *map[string]string) field[map[string]string] {
	return field[map[string]string]{
		ptr:  p,
		text: jsonText[map[string]string],
		str: func(m map[string]string) string {
			if m == nil {
				return ""
			}
			return jsonFormat(m)
		},
		check:    func(m map[string]string) bool { _, empty := m[""]; return !empty },
		expected: `a JSON object of string keys and string values, like {"key": "value"}`,
		kind:     "JSON object",
	}
}

// secretJSONOf holds a JSON document as a Secret. In the JSON file it may be
// embedded as an object or given as a string holding JSON.
func secretJSONOf(p func(*Config) *Secret) field[Secret] {
	return field[Secret]{
		ptr: p,
		text: func(s string) (Secret, error) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return Secret{}, err
			}
			return NewSecret(s), nil
		},
		json: func(raw json.RawMessage) (Secret, error) {
			if s, err := jsonString(raw); err == nil {
				raw = json.RawMessage(s)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return Secret{}, err
			}
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return Secret{}, err
			}
			return NewSecret(b.String()), nil
		},
		str:      func(s Secret) string { return s.Value() },
		expected: "a JSON object",
		kind:     "JSON object (secret)",
	}
}

// hostPortOf accepts "host:port" with a numeric port; the host may be empty
// (all interfaces).
func hostPortOf(p func(*Config) *string) field[string] {
	return field[string]{
		ptr:  p,
		text: identity,
		str:  plain,
		check: func(s string) bool {
			_, port, err := net.SplitHostPort(s)
			if err != nil {
				return false
			}
			n, err := strconv.ParseUint(port, 10, 16)
			return err == nil && n > 0
		},
		expected: "host:port, like 127.0.0.1:51678",
		kind:     "host:port",
	}
}

// endpointOf accepts a URL or a bare host[:port]. A bare host gets https://,
// as in the incumbent, and a note that says so: a local control plane
// written as 127.0.0.1:51677 is then dialled over TLS, and without the note
// the operator sees only a handshake error.
func endpointOf(p func(*Config) *string) field[string] {
	return field[string]{
		ptr:  p,
		text: identity,
		json: func(raw json.RawMessage) (string, error) { return jsonString(raw) },
		check: func(s string) bool {
			u, err := url.Parse(withScheme(s))
			return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
		},
		adjust: func(s string) (string, string) {
			if strings.Contains(s, "://") {
				return s, ""
			}
			return "https://" + s, fmt.Sprintf("no scheme given; using https://%s (write http://%s for a backend without TLS)", s, s)
		},
		str:      plain,
		expected: "a host name or an http(s) URL, like ecs.us-east-1.amazonaws.com or http://127.0.0.1:51677",
		kind:     "host or URL",
	}
}

// withScheme adds https:// to a bare host so that url.Parse reads it as one.
func withScheme(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	return "https://" + s
}

func dockerHostOf(p func(*Config) *string) field[string] {
	return field[string]{
		ptr:  p,
		text: identity,
		str:  plain,
		check: func(s string) bool {
			scheme, rest, ok := strings.Cut(s, "://")
			return ok && rest != "" && slices.Contains([]string{"unix", "tcp", "http", "https", "ssh"}, scheme)
		},
		expected: "a Docker endpoint URL, like unix:///var/run/docker.sock or tcp://127.0.0.1:2375",
		kind:     "URL",
	}
}

// portRangeOf accepts "start-end" with 1 <= start <= end <= 65535.
func portRangeOf(p func(*Config) *string) field[string] {
	return field[string]{
		ptr:  p,
		text: identity,
		str:  plain,
		check: func(s string) bool {
			a, b, ok := strings.Cut(s, "-")
			lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
			hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
			return ok && err1 == nil && err2 == nil && lo >= 1 && lo <= hi
		},
		expected: "a port range start-end, like 49153-65535",
		kind:     "start-end",
	}
}

// rpsLimit is ECS_TASK_METADATA_RPS_LIMIT, "steady,burst", which fills two
// Config fields; in the JSON file each field has its own key.
type rpsLimit struct{}

func (rpsLimit) parse(c *Config, s string) (string, error) {
	a, b, ok := strings.Cut(s, ",")
	steady, err1 := strconv.Atoi(strings.TrimSpace(a))
	burst, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || steady <= 0 || burst <= 0 {
		return "", errBad
	}
	c.TaskMetadataSteadyStateRate, c.TaskMetadataBurstRate = steady, burst
	return "", nil
}

func (rpsLimit) decodeJSON(c *Config, name string, raw json.RawMessage) (string, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	if n <= 0 {
		return "", errBad
	}
	if name == "TaskMetadataBurstRate" {
		c.TaskMetadataBurstRate = n
	} else {
		c.TaskMetadataSteadyStateRate = n
	}
	return "", nil
}

func (rpsLimit) format(c *Config) string {
	return fmt.Sprintf("%d,%d", c.TaskMetadataSteadyStateRate, c.TaskMetadataBurstRate)
}

func (rpsLimit) expect() string { return "two positive integers rate,burst, like 40,60" }
func (rpsLimit) typ() string    { return "rate,burst" }

// --- helpers ---

func identity(s string) (string, error) { return s, nil }

func plain(s string) string { return s }

func jsonString(raw json.RawMessage) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func jsonText[T any](s string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

func jsonFormat[T any](v T) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// formatDuration prints durations the way people write them: 3h, not 3h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func oneOf(allowed []string) string {
	quoted := allowed
	if len(quoted) == 1 {
		return quoted[0]
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}
