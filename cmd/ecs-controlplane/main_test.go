package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
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
