package config

import (
	"fmt"
	"strings"
)

// Error reports a value that stops start-up. For a bad setting, Key, Value
// and Expected are set; for an unreadable or malformed file, Key is empty and
// Err holds the cause. Value is already "<redacted>" for secret settings.
type Error struct {
	Key      string // setting name, e.g. ECS_RESERVED_MEMORY
	Source   string // "environment", "<file>:<line>" or the JSON file path
	Value    string // the offending value (redacted for secrets)
	Expected string // what would have been accepted
	Err      error  // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Key != "" {
		fmt.Fprintf(&b, "%s=%s (%s): expected %s", e.Key, e.Value, e.Source, e.Expected)
	} else {
		b.WriteString(e.Source)
		if e.Expected != "" {
			b.WriteString(": expected " + e.Expected)
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Warning is a problem that does not stop start-up: an unknown ECS_ key, a
// setting the agent does not act on yet, or a value adjusted into range.
type Warning struct {
	Key     string
	Source  string
	Message string
}

func (w Warning) String() string {
	if w.Key == "" {
		return fmt.Sprintf("%s: %s", w.Source, w.Message)
	}
	return fmt.Sprintf("%s (%s): %s", w.Key, w.Source, w.Message)
}
