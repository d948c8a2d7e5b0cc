package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// DefaultConfigFile is the KEY=VALUE file read when LoadOptions.ConfigFile is empty.
const DefaultConfigFile = "/etc/ecs/ecs.config"

// NoConfigFile as the KEY=VALUE file's name (ecs-agent -config none) reads no
// file: every setting comes from the environment, as when ecs-init has already
// turned /etc/ecs/ecs.config into the agent's environment.
const NoConfigFile = "none"

// entry is one KEY=VALUE assignment and where it came from.
type entry struct {
	value  string
	source string // "environment" or "<file>:<line>"
}

// textSource maps setting names to assignments; the last assignment in a
// file wins, as it would in a shell.
type textSource map[string]entry

// readKVFile reads a KEY=VALUE file. A missing file is an error only when the
// caller named it explicitly.
func readKVFile(path string, explicit bool) (textSource, error) {
	data, err := boundedfile.ReadFile(path, boundedfile.MaxConfig)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return textSource{}, nil
	}
	if err != nil {
		return nil, &Error{Source: path, Err: err}
	}
	return parseKV(path, data)
}

// parseKV accepts the syntax most people write into /etc/ecs/ecs.config,
// which is more than ecs-init (no comments, no quotes) and docker --env-file
// (no quotes) understand: blank lines, full-line "#" comments, an optional
// "export " prefix, spaces around "=", single or double quotes around the
// value, and " #" trailing comments after unquoted values.
func parseKV(path string, data []byte) (textSource, error) {
	src := textSource{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		where := fmt.Sprintf("%s:%d", path, n)
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			line = strings.TrimSpace(rest)
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok {
			// The line is not echoed: it may hold a secret.
			return nil, &Error{Source: where, Expected: `KEY=VALUE (the line has no "=")`}
		}
		key = strings.TrimSpace(key)
		if !validName(key) {
			return nil, &Error{Source: where, Expected: fmt.Sprintf("KEY=VALUE with KEY made of letters, digits and _ (got key %q)", key)}
		}
		value, err := unquote(raw)
		if err != nil {
			return nil, &Error{Key: key, Source: where, Value: redactFor(key, raw), Expected: err.Error()}
		}
		src[key] = entry{value: value, source: where}
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{Source: path, Err: err}
	}
	return src, nil
}

// unquote strips matching quotes, which run to the last matching quote on
// the line so that a quoted JSON value may contain the same quote character,
// and drops a trailing " #" comment.
func unquote(raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" || (v[0] == '#' && raw[0] != '#') { // "KEY= # comment"
		return "", nil
	}
	if q := v[0]; q == '"' || q == '\'' {
		for end := len(v) - 1; end > 0; end-- {
			if v[end] != q {
				continue
			}
			rest := strings.TrimSpace(v[end+1:])
			if rest == "" || strings.HasPrefix(rest, "#") {
				return v[1:end], nil
			}
		}
		return "", fmt.Errorf("a closing %c quote", q)
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i]), nil
		}
	}
	return v, nil
}

func validName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// environSource turns os.Environ()-style pairs into a textSource. As with
// os.Getenv, the first of duplicate assignments wins.
func environSource(environ []string) textSource {
	src := textSource{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, dup := src[k]; !dup {
			src[k] = entry{value: v, source: SourceEnvironment}
		}
	}
	return src
}
