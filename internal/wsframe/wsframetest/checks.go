package wsframetest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsframe"
)

// Codec is a wire package's functions, as its tests see them.
type Codec struct {
	New        func(shapeName string) (wsframe.Message, error)
	ShapeNames func() []string
	Encode     func(msg any) ([]byte, error)
	Decode     func(envelopeJSON []byte) (any, error)
	// Fill fills a shape for the round trip (Fill with the package's special cases).
	Fill func(v reflect.Value, depth int)
}

// RoundTripEveryShape fills every shape, encodes it, checks the envelope's
// type, decodes it back to an equal value, and checks that a value and a
// pointer encode identically.
func RoundTripEveryShape(t *testing.T, c Codec) {
	names := c.ShapeNames()
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			msg, err := c.New(name)
			require.NoError(t, err)
			c.Fill(reflect.ValueOf(msg).Elem(), 0)

			frame, err := c.Encode(msg)
			require.NoError(t, err)
			var env map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(frame, &env))
			assert.JSONEq(t, `"`+name+`"`, string(env["type"]))

			got, err := c.Decode(frame)
			require.NoError(t, err)
			assert.Equal(t, msg, got)
			byValue, err := c.Encode(reflect.ValueOf(msg).Elem().Interface())
			require.NoError(t, err)
			assert.Equal(t, frame, byValue)
		})
	}
}

// EveryModelShapeHasAType checks the generated types against the model at
// modelPath: every structure shape has a type of its name, every exception
// shape's type is a wsframe.Exception, and there are no others.
func EveryModelShapeHasAType(t *testing.T, modelPath string, c Codec) {
	raw, err := os.ReadFile(modelPath)
	require.NoError(t, err)
	var m struct {
		Shapes map[string]struct {
			Type      string `json:"type"`
			Exception bool   `json:"exception"`
		} `json:"shapes"`
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	n := 0
	for name, s := range m.Shapes {
		if s.Type != "structure" {
			continue
		}
		n++
		msg, err := c.New(name)
		require.NoError(t, err, name)
		assert.Equal(t, name, msg.ShapeName())
		if s.Exception {
			_, isErr := msg.(wsframe.Exception)
			assert.True(t, isErr, "%s should implement Exception", name)
		}
	}
	assert.Len(t, c.ShapeNames(), n)
}

// GeneratedFileIsCurrent runs internal/wiregen on the model with options
// (those of the package's go:generate line) and compares its output with
// the package's types_gen.go. It runs in the wire package's directory, two
// levels below the module root.
func GeneratedFileIsCurrent(t *testing.T, modelPath, pkgDir string, options ...string) {
	out := filepath.Join(t.TempDir(), "types_gen.go")
	args := append([]string{"run", "../../internal/wiregen", "-model", modelPath, "-out", out}, options...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	have, err := os.ReadFile("types_gen.go")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, have), "types_gen.go is stale: run go generate ./"+pkgDir)
}
