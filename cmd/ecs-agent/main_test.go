package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/version"
)

// cleanEnv keeps the host's ECS_ settings out of the tests.
func cleanEnv(t *testing.T) string {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ECS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	p := filepath.Join(t.TempDir(), "ecs.config")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	return p
}

func runMain(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionFlag(t *testing.T) {
	code, out, _ := runMain("-version")
	assert.Equal(t, 0, code)
	assert.Equal(t, version.String()+"\n", out)
}

func TestCheckConfig(t *testing.T) {
	file := cleanEnv(t)
	require.NoError(t, os.WriteFile(file, []byte("ECS_CLUSTER=prod\n"), 0o600))
	code, out, _ := runMain("-config", file, "-check-config")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ECS_CLUSTER")
	assert.Contains(t, out, "prod")

	require.NoError(t, os.WriteFile(file, []byte("ECS_RESERVED_MEMORY=lots\n"), 0o600))
	code, _, errOut := runMain("-config", file, "-check-config")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "ECS_RESERVED_MEMORY")

	code, _, _ = runMain("-config", filepath.Join(t.TempDir(), "missing"), "-check-config")
	assert.NotEqual(t, 0, code, "an explicit missing file is an error")
}

func TestBadConfigIsTerminal(t *testing.T) {
	file := cleanEnv(t)
	require.NoError(t, os.WriteFile(file, []byte("ECS_RESERVED_MEMORY=lots\n"), 0o600))
	code, _, _ := runMain("-config", file)
	assert.Equal(t, exitTerminal, code)
}

func TestHealthcheck(t *testing.T) {
	file := cleanEnv(t)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/metadata" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("ECS_INTROSPECTION_ADDR", "127.0.0.1:"+port)
	t.Setenv("ECS_AGENT_HEALTHCHECK_HOST", "127.0.0.1")

	code, _, _ := runMain("-config", file, "-healthcheck")
	assert.Equal(t, 0, code)

	status = http.StatusServiceUnavailable
	code, _, errOut := runMain("-config", file, "-healthcheck")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "503")

	srv.Close()
	code, _, _ = runMain("-config", file, "-healthcheck")
	assert.Equal(t, 1, code)
}

func TestHealthcheckURL(t *testing.T) {
	cfg := config.Default()
	cfg.IntrospectionAddr = "127.0.0.1:51678"
	cfg.AgentHealthcheckHost = ""
	assert.Equal(t, "http://127.0.0.1:51678/v1/metadata", healthcheckURL(cfg))
	cfg.IntrospectionAddr = "0.0.0.0:51678"
	assert.Equal(t, "http://localhost:51678/v1/metadata", healthcheckURL(cfg))
	cfg.AgentHealthcheckHost = "agent.local"
	assert.Equal(t, "http://agent.local:51678/v1/metadata", healthcheckURL(cfg))
}

func TestUsage(t *testing.T) {
	code, _, _ := runMain("-nope")
	assert.Equal(t, exitUsage, code)
	code, _, _ = runMain("extra")
	assert.Equal(t, exitUsage, code)
}

// TestInsecureFlagTakesAValue: the incumbent's container command line is
// "ecs-agent -k true"; it must mean -k, not a stray argument.
func TestInsecureFlagTakesAValue(t *testing.T) {
	for _, args := range [][]string{{"-k", "true"}, {"-k=true"}, {"-k"}, {"--k", "true"}, {"-k", "false"}} {
		code, out, errOut := runMain(append(args, "-version")...)
		assert.Equal(t, 0, code, "%v: %s", args, errOut)
		assert.Equal(t, version.String()+"\n", out, "%v", args)
	}
	for _, args := range [][]string{{"-k", "maybe"}, {"-k", "true", "extra"}, {"stray"}} {
		code, _, errOut := runMain(append([]string{"-version"}, args...)...)
		assert.Equal(t, exitUsage, code, "%v", args)
		assert.Contains(t, errOut, "unexpected arguments", "%v", args)
	}
	assert.Equal(t, []string{"-k=true", "-config", "f"}, joinBoolValues([]string{"-k", "true", "-config", "f"}, "k"))
	assert.Equal(t, []string{"-config", "true"}, joinBoolValues([]string{"-config", "true"}, "k"), "only the named flags take a separate value")
	assert.Equal(t, []string{"--", "-k", "true"}, joinBoolValues([]string{"--", "-k", "true"}, "k"))
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(k string) string { return map[string]string{"GOGC": "100"}[k] })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100 in the environment: GC percent %d, want it left alone", got)
	}
}
