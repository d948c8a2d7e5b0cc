package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"", slog.LevelInfo}, {"info", slog.LevelInfo}, {"DEBUG", slog.LevelDebug},
		{"warn", slog.LevelWarn}, {"error", slog.LevelError}, {"crit", slog.LevelError},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	_, err := ParseLevel("loud")
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestLevelFiltering(t *testing.T) {
	tests := []struct {
		level string
		want  []string
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"info", []string{"i", "w", "e"}},
		{"warn", []string{"w", "e"}},
		{"error", []string{"e"}},
		{"crit", []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, c, err := New(Options{Level: tt.level, Format: FormatJSON, Stderr: &buf})
			require.NoError(t, err)
			defer c.Close()
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &m))
				got = append(got, m["msg"].(string))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormats(t *testing.T) {
	var text, js bytes.Buffer
	l1, _, err := New(Options{Stderr: &text})
	require.NoError(t, err)
	l1.Info("registered", KeyCluster, "prod", KeyAttempt, 2)
	assert.Contains(t, text.String(), `level=INFO msg=registered cluster=prod attempt=2`)

	l2, _, err := New(Options{Format: "json", Stderr: &js})
	require.NoError(t, err)
	l2.Info("registered", KeyCluster, "prod")
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	assert.Equal(t, "registered", m["msg"])
	assert.Equal(t, "prod", m[KeyCluster])

	_, _, err = New(Options{Format: "xml"})
	require.ErrorIs(t, err, ErrInvalidOption)
	_, _, err = New(Options{File: filepath.Join(t.TempDir(), "a.log"), RolloverType: "daily"})
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"secret", "AWS_SECRET_ACCESS_KEY", "sessionToken", "X-Amz-Security-Token",
		"password", "Authorization", "ECS_ENGINE_AUTH_DATA", "auth_data", "credentials", "privateKey",
		"A_SETTING_WHOSE_NAME_IS_LONGER_THAN_THE_SIXTY_FOUR_BYTES_FOLDED_ON_THE_STACK_SECRET"} {
		assert.True(t, IsSecretKey(k), k)
	}
	for _, k := range []string{"cluster", "task", "error", "ECS_ENGINE_AUTH_TYPE", "credentialProfile", "endpoint", KeyResendRoles} {
		assert.False(t, IsSecretKey(k), k)
	}
}

type secretValuer struct{}

func (secretValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", "bob"), slog.String("password", "hunter2"))
}

func TestRedaction(t *testing.T) {
	for _, format := range []string{FormatLogfmt, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, _, err := New(Options{Format: format, Stderr: &buf})
			require.NoError(t, err)
			log = log.With("sessionToken", "tok-123").WithGroup("req")
			log.Info("call",
				"Authorization", "AWS4-HMAC-SHA256 Credential=abc",
				slog.Group("creds", "secretAccessKey", "s3cr3t", "accessKeyId", "AKIAEXAMPLE"),
				"login", secretValuer{},
				KeyTask, "arn:task")
			out := buf.String()
			for _, leaked := range []string{"tok-123", "AWS4-HMAC", "s3cr3t", "hunter2"} {
				assert.NotContains(t, out, leaked)
			}
			assert.Contains(t, out, Redacted)
			assert.Contains(t, out, "AKIAEXAMPLE")
			assert.Contains(t, out, "bob")
			assert.Contains(t, out, "arn:task")
		})
	}
}

func TestRedactIsIdempotent(t *testing.T) {
	h := Redact(slog.NewTextHandler(&bytes.Buffer{}, nil))
	assert.Equal(t, h, Redact(h))
}

func TestFileRollsBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ecs-agent.log")
	var stderr bytes.Buffer
	// 0.001 MiB is about 1 KiB, so a few dozen records roll several times.
	log, closer, err := New(Options{File: path, MaxFileSizeMB: 0.001, MaxRollCount: 3, Stderr: &stderr})
	require.NoError(t, err)
	line := strings.Repeat("x", 100)
	for i := 0; i < 100; i++ {
		log.Info("filler", "n", i, "pad", line)
	}
	require.NoError(t, closer.Close())

	assert.FileExists(t, path)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var rolls []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "ecs-agent.log.") {
			rolls = append(rolls, e.Name())
		}
	}
	assert.Len(t, rolls, 3, "old rolls beyond ECS_LOG_MAX_ROLL_COUNT are deleted: %v", rolls)
	// Every record also reached stderr.
	assert.Equal(t, 100, strings.Count(stderr.String(), "msg=filler"))
	last, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(last), "n=99")
}

func TestFileHourly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ecs-agent.log")
	log, closer, err := New(Options{File: path, RolloverType: RolloverHourly, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	log.Warn("hello")
	require.NoError(t, closer.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(b), "msg=hello")
}

func TestFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	_, _, err := New(Options{File: filepath.Join(blocker, "ecs-agent.log")})
	require.Error(t, err)
}

// Matching a key allocates nothing: it runs for every attribute logged.
func TestIsSecretKeyAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { IsSecretKey("X-Amz-Container-Instance") })
	assert.Zero(t, allocs)
}
