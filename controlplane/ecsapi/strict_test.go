package ecsapi

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsupportedGolden lists, one "Operation.member" per line, the request
// members the control plane refuses. Regenerate it with
// UPDATE_GOLDEN=1 go test -run TestEveryRequestMemberIsDecodedOrRefused.
const unsupportedGolden = "testdata/unsupported-request-members.txt"

// operationModel is the part of the ECS model that maps an operation to the
// members of its input.
type operationModel struct {
	Shapes map[string]struct {
		Type  string `json:"type"`
		Input *struct {
			Target string `json:"target"`
		} `json:"input"`
		Members map[string]struct {
			Target string `json:"target"`
		} `json:"members"`
	} `json:"shapes"`
}

// TestEveryRequestMemberIsDecodedOrRefused sends every member of every
// served operation's input shape, alone and with a value, and sorts the
// answers: refused as unsupported (naming the member), or decoded. The
// refused ones must be the golden list, so that a member that starts or
// stops being acted on is a visible change, and a member the model gains
// is refused until someone decides otherwise.
func TestEveryRequestMemberIsDecodedOrRefused(t *testing.T) {
	var m operationModel
	require.NoError(t, json.Unmarshal(readECSModel(t), &m))

	f := newFixture(t)
	var refused []string
	ops := make([]string, 0, len(f.api.ops))
	for op := range f.api.ops {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		shape, ok := m.Shapes[smithyNS+op]
		require.True(t, ok, "operation %s is served but not in the model", op)
		if shape.Input == nil {
			continue
		}
		for member, mem := range m.Shapes[shape.Input.Target].Members {
			body, err := json.Marshal(map[string]any{member: sampleValue(m, mem.Target)})
			require.NoError(t, err)
			resp := rawCall(t, f.srv.URL, op, string(body), true)
			msg, _ := resp.body["message"].(string)
			if !strings.Contains(msg, "not supported by this control plane: remove") {
				continue
			}
			assert.Equal(t, http.StatusBadRequest, resp.status, "%s.%s", op, member)
			assert.Equal(t, CodeInvalidParameter, resp.body["__type"], "%s.%s", op, member)
			assert.True(t, strings.HasPrefix(msg, member+" is not supported"), "%s.%s: the refusal names the member: %q", op, member, msg)
			refused = append(refused, op+"."+member)
		}
	}
	slices.Sort(refused)
	got := strings.Join(refused, "\n") + "\n"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.WriteFile(unsupportedGolden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(unsupportedGolden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "the refused request members changed; check the change and regenerate %s", unsupportedGolden)
}

func TestZeroValuedMembersAreNotRefused(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{`null`, `false`, `0`, `""`, `[]`, `{}`} {
		resp := rawCall(t, f.srv.URL, "ListClusters", `{"include":`+v+`}`, true)
		assert.Equal(t, http.StatusOK, resp.status, "include=%s asks for nothing", v)
	}
	resp := rawCall(t, f.srv.URL, "ListClusters", `{"include":["X"],"zzz":1}`, true)
	assert.Equal(t, "include, zzz are not supported by this control plane: remove them from the request.", resp.body["message"])
}

// sampleValue is a value of the model's type target that asks for something.
func sampleValue(m operationModel, target string) any {
	switch target {
	case "smithy.api#Boolean", "smithy.api#PrimitiveBoolean", smithyNS + "Boolean", smithyNS + "BoxedBoolean":
		return true
	case "smithy.api#Integer", "smithy.api#PrimitiveInteger", "smithy.api#Long", "smithy.api#Double", "smithy.api#Timestamp":
		return 1
	case "smithy.api#String":
		return "x"
	}
	switch m.Shapes[target].Type {
	case "boolean":
		return true
	case "integer", "long", "double", "timestamp":
		return 1
	case "list":
		return []any{"x"}
	case "map", "structure":
		return map[string]any{"x": "x"}
	}
	return "x"
}
