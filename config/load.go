package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// LoadOptions say where Load reads from.
type LoadOptions struct {
	// ConfigFile is the KEY=VALUE file; "" means /etc/ecs/ecs.config. A
	// missing default file is fine; a missing explicit file is an error.
	// NoConfigFile ("none") reads no KEY=VALUE file at all.
	ConfigFile string
	// Environ is the environment in os.Environ() form; nil means os.Environ().
	Environ []string
}

// Default returns the configuration with every setting at its default.
func Default() *Config {
	c := &Config{sources: map[string]string{}}
	for i := range settings {
		s := &settings[i]
		if s.def == "" {
			continue
		}
		if _, err := s.codec.parse(c, s.def); err != nil {
			// The table is static; TestDefaultsParse keeps this unreachable.
			panic(fmt.Sprintf("config: default of %s (%q) does not parse: %v", s.key, s.def, err))
		}
	}
	return c
}

// Load builds the effective configuration from the defaults, the JSON file,
// the KEY=VALUE file and the environment, in increasing precedence. Each
// setting is parsed from the highest source that sets it to a non-empty
// value (an empty value means "not set", as in the incumbent). A bad value
// returns a *Error; problems that do not stop start-up are returned as
// warnings.
func Load(opts LoadOptions) (*Config, []Warning, error) {
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	path, explicit := opts.ConfigFile, opts.ConfigFile != ""
	if !explicit {
		path = DefaultConfigFile
	}
	file := textSource{}
	if path != NoConfigFile {
		var err error
		if file, err = readKVFile(path, explicit); err != nil {
			return nil, nil, err
		}
	}
	l := &loader{c: Default(), env: environSource(environ), file: file}
	if err := l.load(); err != nil {
		return nil, nil, err
	}
	return l.c, l.warnings, nil
}

type loader struct {
	c         *Config
	env, file textSource
	warnings  []Warning
}

func (l *loader) warn(key, source, msg string) {
	l.warnings = append(l.warnings, Warning{Key: key, Source: source, Message: msg})
}

func (l *loader) load() error {
	l.unknownKeys(l.file)
	l.unknownKeys(l.env)

	// Text sources first: ECS_AGENT_CONFIG_FILE_PATH may come from them and
	// says where the JSON file is.
	var pending []*setting
	for i := range settings {
		s := &settings[i]
		e, ok := l.lookup(s)
		if !ok {
			pending = append(pending, s)
			continue
		}
		note, err := s.codec.parse(l.c, strings.TrimSpace(e.value))
		if err != nil {
			return &Error{Key: s.key, Source: e.source, Value: redactFor(s.key, e.value), Expected: s.codec.expect()}
		}
		if err := l.checkOneLine(s, e.source); err != nil {
			return err
		}
		l.set(s, e.source, note)
	}
	if err := l.loadJSON(pending); err != nil {
		return err
	}
	l.derive()
	return l.validate()
}

// lookup finds a setting's assignment in the highest source; within one
// source the main name wins over aliases.
func (l *loader) lookup(s *setting) (entry, bool) {
	names := append([]string{s.key}, s.aliases...)
	for _, src := range []textSource{l.env, l.file} {
		for _, n := range names {
			if e, ok := src[n]; ok && strings.TrimSpace(e.value) != "" {
				return e, true
			}
		}
	}
	return entry{}, false
}

func (l *loader) set(s *setting, source, note string) {
	l.c.sources[s.key] = source
	if note != "" {
		l.warn(s.key, source, note)
	}
	if !s.supported {
		l.warn(s.key, source, msgUnsupported)
	}
}

func (l *loader) unknownKeys(src textSource) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		where := src[k].source
		switch {
		case byName[k] != nil || silentKeys[k]:
		case ignoredKeys[k] != "":
			l.warn(k, where, ignoredKeys[k])
		case credentialKeys[k] && where != SourceEnvironment:
			l.warn(k, where, msgCredentials)
		case strings.HasPrefix(k, "ECS_"):
			l.warn(k, where, msgUnknown)
		}
	}
}

// loadJSON applies the JSON file to the settings no text source set. The
// file is decoded into a key-by-key map, not straight into Config, so that
// each setting goes through the same validation and keeps its source.
func (l *loader) loadJSON(pending []*setting) error {
	path := l.c.AgentConfigFilePath
	data, err := boundedfile.ReadFile(path, boundedfile.MaxConfig)
	if errors.Is(err, fs.ErrNotExist) {
		if l.c.Source("ECS_AGENT_CONFIG_FILE_PATH") != SourceDefault {
			l.warn("ECS_AGENT_CONFIG_FILE_PATH", path, msgJSONMissing)
		}
		return nil
	}
	if err != nil {
		return &Error{Source: path, Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return &Error{Source: path, Expected: "a JSON object of Config fields", Err: err}
	}
	isPending := map[*setting]bool{}
	for _, s := range pending {
		isPending[s] = true
	}
	names := make([]string, 0, len(doc))
	for n := range doc {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := doc[name]
		lower := strings.ToLower(name)
		if canonical, ok := jsonFieldAliases[lower]; ok {
			if _, both := doc[canonical]; both {
				continue // the current name wins over the deprecated one
			}
			lower = strings.ToLower(canonical)
		}
		s := byJSONField[lower]
		switch {
		case strings.EqualFold(name, "AgentConfigFilePath"):
			l.warn(name, path, msgJSONIgnoredFP)
			continue
		case s == nil:
			l.warn(name, path, msgUnknownJSON)
			continue
		case !isPending[s] || bytes.Equal(bytes.TrimSpace(raw), []byte("null")):
			continue // a higher source set it, or null means unset
		}
		if str, err := jsonString(raw); err == nil {
			// As in the text sources: surrounding space is not part of
			// the value, and an empty value means "not set".
			if str = strings.TrimSpace(str); str == "" {
				continue
			}
			raw, _ = json.Marshal(str)
		}
		field := s.fields[0]
		for _, f := range s.fields {
			if strings.EqualFold(f, lower) {
				field = f
			}
		}
		note, err := s.codec.decodeJSON(l.c, field, raw)
		if err != nil {
			return &Error{Key: s.key, Source: path, Value: redactFor(s.key, string(raw)), Expected: s.codec.expect() + " (JSON field " + field + ")"}
		}
		if err := l.checkOneLine(s, path); err != nil {
			return err
		}
		if l.c.sources[s.key] != path {
			l.set(s, path, note)
		} else if note != "" {
			l.warn(s.key, path, note)
		}
	}
	return nil
}

// checkOneLine refuses a value with a line break (from the environment or
// a JSON string): no setting takes one, and Print could not write it
// back as a KEY=VALUE line. Secrets are never printed, so a pretty-printed
// JSON secret may span lines.
func (l *loader) checkOneLine(s *setting, source string) error {
	if v := s.codec.format(l.c); !s.secret && strings.ContainsAny(v, "\r\n") {
		return &Error{Key: s.key, Source: source, Value: strconv.Quote(v), Expected: s.codec.expect() + ", on one line"}
	}
	return nil
}

// derive fills defaults that depend on other settings, as the incumbent does.
func (l *loader) derive() {
	c := l.c
	if c.Source("ECS_CHECKPOINT") == SourceDefault && c.Source("ECS_DATADIR") != SourceDefault {
		c.Checkpoint = true
		c.sources["ECS_CHECKPOINT"] = SourceDefault + " (ECS_DATADIR is set)"
	}
	if c.PrometheusMetricsEnabled && c.Source("ECS_RESERVED_PORTS") == SourceDefault {
		c.ReservedPorts = append(c.ReservedPorts, 51680)
		c.sources["ECS_RESERVED_PORTS"] = SourceDefault + " (ECS_ENABLE_PROMETHEUS_METRICS is set)"
	}
}

// validate checks the rules that involve more than one setting.
func (l *loader) validate() error {
	c := l.c
	if c.EngineAuthData.IsSet() && c.EngineAuthType == "" {
		return &Error{Key: "ECS_ENGINE_AUTH_TYPE", Source: c.Source("ECS_ENGINE_AUTH_TYPE"), Value: "",
			Expected: "docker or dockercfg, because ECS_ENGINE_AUTH_DATA is set"}
	}
	if c.EngineAuthType != "" && !c.EngineAuthData.IsSet() {
		l.warn("ECS_ENGINE_AUTH_TYPE", c.Source("ECS_ENGINE_AUTH_TYPE"), "ECS_ENGINE_AUTH_DATA is not set; no registry credentials will be used")
	}
	if c.EngineAuthData.IsSet() {
		if want := checkAuthData(c.EngineAuthType, c.EngineAuthData.Value()); want != "" {
			return &Error{Key: "ECS_ENGINE_AUTH_DATA", Source: c.Source("ECS_ENGINE_AUTH_DATA"), Value: redactFor("ECS_ENGINE_AUTH_DATA", "x"),
				Expected: want}
		}
	}
	if c.External && c.AWSRegion == "" {
		return &Error{Key: "AWS_DEFAULT_REGION", Source: c.Source("AWS_DEFAULT_REGION"), Value: "",
			Expected: "a region, because ECS_EXTERNAL is true and there is no instance metadata to ask"}
	}
	if c.Cluster == "" {
		// Only reachable from the JSON file ("Cluster": ""); the incumbent then uses "default".
		c.Cluster = "default"
	}
	return nil
}
