package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunRefusesToStartWithoutCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	var stderr bytes.Buffer
	code := run([]string{"-data-dir", t.TempDir(), "-listen", "127.0.0.1:0"}, &stderr, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "-credentials FILE")
	assert.Contains(t, stderr.String(), "AWS_ACCESS_KEY_ID")
}

func TestRunFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run([]string{"-version"}, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "Open ECS Agent")
	assert.Equal(t, 2, run([]string{"-no-such-flag"}, &stdout, &stderr))
	assert.Equal(t, 2, run([]string{"-log-level", "loud", "-data-dir", t.TempDir()}, &stdout, &stderr))
}

func TestRunRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:51677", "cp.example:51677"} {
		var stderr bytes.Buffer
		code := run([]string{"-data-dir", t.TempDir(), "-listen", listen}, &stderr, &stderr)
		assert.Equal(t, 2, code, listen)
		assert.Contains(t, stderr.String(), "refusing to serve plain HTTP beyond loopback", listen)
		assert.Contains(t, stderr.String(), "-insecure-http", listen)
	}
}

// A controlplane.db that exists but cannot be used stops the control plane
// with exit code 5 (a restart reads the same file) and a message that
// names the file and the fix; the file is left as it was.
func TestRunExitsTerminalOnAnUnusableDatabase(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for name, content := range map[string][]byte{
		"empty":   {},
		"garbage": bytes.Repeat([]byte("not a database "), 1000),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "controlplane.db")
			require.NoError(t, os.WriteFile(path, content, 0o600))
			var stderr bytes.Buffer
			code := run([]string{"-data-dir", dir, "-listen", "127.0.0.1:0"}, &stderr, &stderr)
			assert.Equal(t, 5, code)
			assert.Contains(t, stderr.String(), path)
			assert.Contains(t, stderr.String(), "mv "+path+" "+path+".bad")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, content, after)
		})
	}
}
