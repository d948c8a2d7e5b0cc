package config

import (
	"fmt"
	"io"
	"strings"
)

// Print writes every setting as KEY=value, followed by the source of the
// value, e.g. "ECS_CLUSTER=prod  # /etc/ecs/ecs.config:3". Secret values are
// shown as <redacted>. Apart from redacted secrets the output is itself a
// valid ecs.config file.
func (c *Config) Print(w io.Writer) {
	for i := range settings {
		s := &settings[i]
		v := s.codec.format(c)
		if s.secret && v != "" {
			v = redactFor(s.key, v)
		} else if needsQuotes(v) {
			v = "'" + v + "'"
		}
		fmt.Fprintf(w, "%s=%s  # %s\n", s.key, v, c.Source(s.key))
	}
}

// needsQuotes reports whether v would be read back differently unquoted.
func needsQuotes(v string) bool {
	if v == "" {
		return false
	}
	return strings.Contains(v, " #") || strings.Contains(v, "\t#") || v[0] == '"' || v[0] == '\'' || v != strings.TrimSpace(v)
}
