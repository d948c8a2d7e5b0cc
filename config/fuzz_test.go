package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// loadBound is what one Load may allocate: the defaults and the setting
// table (about 60 KiB whatever the input), plus the two files read whole
// and split into entries, and each value parsed; a JSON file's arrays and
// objects are decoded twice (into the key-by-key map, then the setting).
// The configurations of the seed corpus, about 1 KiB each, need under
// 90 KiB.
var loadBound = fuzzbound.Bound{Fixed: 256 << 10, PerByte: 64}

// FuzzLoad feeds an ecs.config file, a JSON configuration file and an
// environment (one KEY=VALUE a line) to Load. When field is set, the JSON
// file gets that member with value as a string, so that the fuzzer reaches
// any string in any field without having to keep the JSON valid. A
// configuration is either
// refused with a *Error that says what was expected and never shows a
// secret, or loaded into a Config whose Print output is a valid ecs.config
// that loads into the same settings.
func FuzzLoad(f *testing.F) {
	// One directory for every input: a worker runs them one at a time.
	dir := f.TempDir()
	benign := benignText()
	f.Fuzz(func(t *testing.T, kv, jsonDoc []byte, env, field, value string) {
		if field != "" {
			jsonDoc = withStringField(jsonDoc, field, value)
		}
		kvPath, jsonPath := filepath.Join(dir, "ecs.config"), filepath.Join(dir, "config.json")
		writeFile(t, kvPath, kv)
		writeFile(t, jsonPath, jsonDoc)
		// The JSON path is pinned first (the first assignment wins), so
		// that the fuzzer reads no file of this host.
		environ := append([]string{"ECS_AGENT_CONFIG_FILE_PATH=" + jsonPath}, strings.Split(env, "\n")...)
		opts := LoadOptions{ConfigFile: kvPath, Environ: environ}

		var c *Config
		var warnings []Warning
		var err error
		fuzzbound.Check(t, loadBound, len(kv)+len(jsonDoc)+len(env), func() { c, warnings, err = Load(opts) })
		secrets := secretValues(t, kvPath, environ, string(kv)+string(jsonDoc)+env+dir+benign)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Source == "" || (cerr.Key != "" && cerr.Expected == "") {
				t.Fatalf("Load: %T %v is not a *Error naming its source and what was expected", err, err)
			}
			noSecret(t, err.Error(), secrets)
			return
		}
		for _, w := range warnings {
			if w.Source == "" || w.Message == "" {
				t.Fatalf("warning %+v has no source or message", w)
			}
			noSecret(t, w.String(), secrets)
		}
		var printed bytes.Buffer
		c.Print(&printed)
		noSecret(t, printed.String(), secrets)
		checkPrintReloads(t, dir, printed.Bytes())
	})
}

// withStringField returns doc, a JSON object (else an empty one), with the
// member field set to the string value.
func withStringField(doc []byte, field, value string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	v, _ := json.Marshal(value)
	m[field] = v
	out, _ := json.Marshal(m)
	return out
}

// checkPrintReloads loads what Print wrote, without the JSON file and the
// environment, and requires the same settings. Secret settings print as
// <redacted> and are left out, as the path of the JSON file is.
func checkPrintReloads(t *testing.T, dir string, printed []byte) {
	t.Helper()
	path := filepath.Join(dir, "printed.config")
	writeFile(t, path, comparable(printed))
	c2, _, err := Load(LoadOptions{ConfigFile: path, Environ: []string{"ECS_AGENT_CONFIG_FILE_PATH=" + filepath.Join(dir, "none.json")}})
	if err != nil {
		t.Fatalf("Print's output does not load: %v\n%s", err, printed)
	}
	var again bytes.Buffer
	c2.Print(&again)
	if a, b := comparable(printed), comparable(again.Bytes()); !bytes.Equal(a, b) {
		t.Fatalf("Print's output loads into other settings:\n%s\n---\n%s", a, b)
	}
}

// comparable keeps the KEY=value part of Print's lines, without secret
// settings and the JSON file's path.
func comparable(printed []byte) []byte {
	var out bytes.Buffer
	for line := range strings.SplitSeq(string(printed), "\n") {
		key, _, _ := strings.Cut(line, "=")
		if line == "" || isSecret(key) || key == "ECS_AGENT_CONFIG_FILE_PATH" {
			continue
		}
		setting, _, _ := strings.Cut(line, "  # ")
		out.WriteString(setting + "\n")
	}
	return out.Bytes()
}

// secretValues lists the values of secret settings in the file and the
// environment, as Load would read them. A value that also appears
// elsewhere in the input (all of it, with the paths) could be shown for
// another reason, and is left out, as are short ones.
func secretValues(t *testing.T, kvPath string, environ []string, input string) []string {
	t.Helper()
	var out []string
	add := func(src textSource) {
		for k, e := range src {
			v := strings.TrimSpace(e.value)
			if (isSecret(k) || credentialKeys[k]) && len(v) >= 8 && strings.Count(input, v) == 1 {
				out = append(out, v)
			}
		}
	}
	if file, err := readKVFile(kvPath, true); err == nil {
		add(file)
	}
	add(environSource(environ))
	return out
}

// benignText is what Load's output holds whatever the input: every
// setting's name and default, and the messages of warnings.
func benignText() string {
	var b strings.Builder
	Default().Print(&b)
	for _, m := range []string{msgAWSVPC, msgECSInit, msgUnsupported, msgUnknown, msgCredentials,
		msgUnknownJSON, msgJSONMissing, msgJSONIgnoredFP, SourceEnvironment} {
		b.WriteString(m + "\n")
	}
	for _, m := range ignoredKeys {
		b.WriteString(m + "\n")
	}
	return b.String()
}

func noSecret(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("%q shows the secret %q", text, s)
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
