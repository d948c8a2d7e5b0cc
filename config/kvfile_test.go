package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKV(t *testing.T) {
	tests := []struct {
		name, line, key, want string
	}{
		{"plain", "ECS_CLUSTER=prod", "ECS_CLUSTER", "prod"},
		{"spaces around =", "  ECS_CLUSTER = prod  ", "ECS_CLUSTER", "prod"},
		{"export", "export ECS_CLUSTER=prod", "ECS_CLUSTER", "prod"},
		{"double quotes", `ECS_CLUSTER="prod"`, "ECS_CLUSTER", "prod"},
		{"single quotes", `ECS_CLUSTER='prod'`, "ECS_CLUSTER", "prod"},
		{"quoted hash", `ECS_CLUSTER="a #b"`, "ECS_CLUSTER", "a #b"},
		{"quoted with comment", `ECS_CLUSTER="prod" # the cluster`, "ECS_CLUSTER", "prod"},
		{"trailing comment", "ECS_CLUSTER=prod # the cluster", "ECS_CLUSTER", "prod"},
		{"hash without space is data", "ECS_BACKEND_HOST=http://h/#frag", "ECS_BACKEND_HOST", "http://h/#frag"},
		{"empty", "ECS_CLUSTER=", "ECS_CLUSTER", ""},
		{"empty with comment", "ECS_CLUSTER=  # none", "ECS_CLUSTER", ""},
		{"leading hash is data", "ECS_CLUSTER=#1", "ECS_CLUSTER", "#1"},
		{"equals in value", "ECS_CLUSTER=a=b", "ECS_CLUSTER", "a=b"},
		{"unquoted JSON", `ECS_INSTANCE_ATTRIBUTES={"a": "b c"}`, "ECS_INSTANCE_ATTRIBUTES", `{"a": "b c"}`},
		{"double-quoted JSON", `ECS_INSTANCE_ATTRIBUTES="{"a":"b"}"`, "ECS_INSTANCE_ATTRIBUTES", `{"a":"b"}`},
		{"single-quoted JSON", `ECS_INSTANCE_ATTRIBUTES='{"a":"b"}'`, "ECS_INSTANCE_ATTRIBUTES", `{"a":"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := parseKV("f", []byte("# comment\n\n"+tt.line+"\n"))
			require.NoError(t, err)
			require.Contains(t, src, tt.key)
			assert.Equal(t, tt.want, src[tt.key].value)
			assert.Equal(t, "f:3", src[tt.key].source)
		})
	}
}

func TestParseKVLastAssignmentWins(t *testing.T) {
	src, err := parseKV("f", []byte("ECS_CLUSTER=a\nECS_CLUSTER=b\n"))
	require.NoError(t, err)
	assert.Equal(t, entry{value: "b", source: "f:2"}, src["ECS_CLUSTER"])
}

func TestParseKVErrors(t *testing.T) {
	tests := []struct {
		name, text, source, contains string
	}{
		{"no equals", "ECS_CLUSTER=a\nECS_CLUSTER prod\n", "f:2", `no "="`},
		{"bad key", "\nECS CLUSTER=prod\n", "f:2", "letters, digits"},
		{"empty key", "=prod\n", "f:1", "letters, digits"},
		{"unterminated quote", `ECS_CLUSTER="prod`, "f:1", "closing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKV("f", []byte(tt.text))
			var ce *Error
			require.True(t, errors.As(err, &ce), "want *Error, got %v", err)
			assert.Equal(t, tt.source, ce.Source)
			assert.Contains(t, err.Error(), tt.contains)
			assert.Contains(t, err.Error(), tt.source)
		})
	}
}

func TestParseKVNeverEchoesASecretLine(t *testing.T) {
	_, err := parseKV("f", []byte(`ECS_ENGINE_AUTH_DATA {"r":{"auth":"c2VjcmV0"}}`))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2VjcmV0")
	_, err = parseKV("f", []byte(`ECS_ENGINE_AUTH_DATA="{"r":{"auth":"c2VjcmV0"}}`+"\n"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2VjcmV0")
	assert.Contains(t, err.Error(), "<redacted>")
	_, err = parseKV("f", []byte(`ECS_ENGINE_AUTH_DATA='{"r":{"auth":"c2VjcmV0"}}`))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "c2VjcmV0")
}

func TestEnvironSourceFirstWins(t *testing.T) {
	src := environSource([]string{"A=1", "A=2", "B", "=x", "C="})
	assert.Equal(t, "1", src["A"].value)
	assert.NotContains(t, src, "B")
	assert.Equal(t, "", src["C"].value)
}
