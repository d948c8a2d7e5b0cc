package config

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the generated tables in docs/configuration.md")

const (
	docsPath   = "../docs/configuration.md"
	beginTable = "<!-- BEGIN GENERATED SETTINGS: go test ./config -run TestDocs -update -->"
	endTable   = "<!-- END GENERATED SETTINGS -->"
)

// TestDocsListEverySetting keeps docs/configuration.md in step with the
// table: the settings section is generated from it.
func TestDocsListEverySetting(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	require.NoError(t, err)
	text := string(doc)
	begin, end := strings.Index(text, beginTable), strings.Index(text, endTable)
	require.True(t, begin >= 0 && end > begin, "docs/configuration.md lacks the generated-section markers")
	want := text[:begin+len(beginTable)] + "\n" + settingsMarkdown() + text[end:]
	if *update {
		require.NoError(t, os.WriteFile(docsPath, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, text, "docs/configuration.md is stale: run go test ./config -run TestDocs -update")
}

func settingsMarkdown() string {
	var b strings.Builder
	b.WriteString("\n| Setting | JSON field | Type | Default | Supported now | Meaning |\n|---|---|---|---|---|---|\n")
	for _, s := range settings {
		def := s.defDoc
		if def == "" && s.def != "" {
			def = "`" + s.def + "`"
		}
		if def == "" {
			def = "unset"
		}
		supported := "no"
		if s.supported {
			supported = "**yes**"
		}
		name := "`" + s.key + "`"
		for _, a := range s.aliases {
			name += ", `" + a + "`"
		}
		fields := "—"
		if len(s.fields) > 0 {
			fields = strings.Join(s.fields, ", ")
		}
		help := s.help
		if s.secret {
			help += " Secret: shown as `<redacted>`."
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, fields, cell(s.codec.typ()), cell(def), supported, cell(help))
	}
	b.WriteString("\nKnown names that the agent does not read (setting one gives a warning):\n\n| Name | Why |\n|---|---|\n")
	keys := make([]string, 0, len(ignoredKeys))
	for k := range ignoredKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %s |\n", k, cell(ignoredKeys[k]))
	}
	b.WriteString("\n")
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
