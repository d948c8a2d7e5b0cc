// Package imdstest runs AWS's EC2 metadata mock (amazon-ec2-metadata-mock)
// for tests, optionally behind a small proxy that reproduces what the mock
// cannot: a metadata service without IMDSv2 tokens, or without dynamic data
// (as on private clouds).
//
// Tests that use it are integration tests: they skip under -short, and skip
// when the mock binary is missing, except under CI=true where a missing
// binary fails the test.
package imdstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-ecs/ecs-agent/internal/testutil"
)

// BinaryName is the mock's executable name.
const BinaryName = "ec2-metadata-mock"

// InstallCommand installs the mock version the tests are written against.
const InstallCommand = "GOFLAGS= go install github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@v1.13.0"

// TokenPath is where IMDSv2 session tokens are requested.
const TokenPath = "/latest/api/token"

// startTimeout bounds how long the mock may take to answer after it starts.
const startTimeout = 15 * time.Second

// Options shape the metadata service a test gets.
type Options struct {
	// IMDSv2Only makes the mock reject requests without a session token
	// (its -I flag).
	IMDSv2Only bool
	// MetadataValues override the mock's meta-data values. Keys are the
	// mock's config keys, for example "instance-id", "placement-region",
	// "placement-availability-zone", "placement-availability-zone-id".
	MetadataValues map[string]string
	// IdentityDocument fields are merged over the mock's default instance
	// identity document.
	IdentityDocument map[string]any
	// NotFound lists path prefixes that a proxy in front of the mock answers
	// with 404, for example "/latest/dynamic/" for a private cloud.
	NotFound []string
	// TokenStatus, when non-zero, is the status a proxy answers to the IMDSv2
	// token PUT, for example 403 or 405 for a service without IMDSv2.
	TokenStatus int
}

// Start runs the mock on a free loopback port and returns the base URL to use
// as the IMDS endpoint (a proxy's when NotFound or TokenStatus are set). The
// mock is stopped when the test ends.
func Start(t testing.TB, opts Options) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the EC2 metadata mock test in -short mode")
	}
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; install it with: %s", err, InstallCommand)
		}
		t.Skipf("%v; install it with: %s", err, InstallCommand)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "aemm-config.json")
	if err := writeConfig(cfg, opts); err != nil {
		t.Fatal(err)
	}

	var endpoint string
	// The free port is found by binding and releasing it, so another process
	// can take it before the mock binds; a few attempts cover that race.
	for attempt := 1; ; attempt++ {
		endpoint, err = startMock(t, bin, dir, cfg, opts.IMDSv2Only)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("starting %s: %v", BinaryName, err)
		}
	}

	if len(opts.NotFound) == 0 && opts.TokenStatus == 0 {
		return endpoint
	}
	return startProxy(t, endpoint, opts)
}

// ClosedEndpoint returns a loopback URL where nothing listens, for tests of
// an unreachable metadata service.
func ClosedEndpoint(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + port
}

// Binary finds the mock on PATH, else in $GOBIN or $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath(BinaryName); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	// `go env` also sees a GOPATH set with `go env -w`.
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(gp, "bin"))
		}
	}
	dirs = slices.Compact(dirs)
	for _, d := range dirs {
		p := filepath.Join(d, BinaryName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %s", BinaryName, strings.Join(dirs, ", "))
}

func writeConfig(path string, opts Options) error {
	cfg := map[string]any{}
	if len(opts.MetadataValues) > 0 {
		cfg["metadata"] = map[string]any{"values": opts.MetadataValues}
	}
	if opts.IdentityDocument != nil {
		cfg["dynamic"] = map[string]any{"values": map[string]any{"instance-identity-document": opts.IdentityDocument}}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding the mock config: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("writing the mock config: %w", err)
	}
	return nil
}

// startMock starts one mock process and waits until it answers HTTP.
func startMock(t testing.TB, bin, dir, cfg string, v2Only bool) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	args := []string{"-p", port, "-n", "127.0.0.1", "-c", cfg}
	if v2Only {
		args = append(args, "-I")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// HOME points at the temp dir so a developer's own aemm config is never read.
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("running %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	endpoint := "http://127.0.0.1:" + port
	if err := waitReady(endpoint, exited); err != nil {
		stop()
		return "", fmt.Errorf("%w; output:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", BinaryName, out.String())
		}
	})
	return endpoint, nil
}

// waitReady polls until the mock answers any HTTP response (an IMDSv2-only
// mock answers 401), the process exits, or startTimeout passes.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(endpoint + "/latest/meta-data/instance-id")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the mock exited before answering")
		case <-deadline.C:
			return fmt.Errorf("the mock did not answer within %s: %w", startTimeout, err)
		case <-tick.C:
		}
	}
}

// startProxy puts a reverse proxy in front of the mock that answers 404 for
// opts.NotFound and opts.TokenStatus for the token PUT. It uses Rewrite
// without SetXForwarded so requests reach the mock as they would reach IMDS
// (the real service refuses token requests that carry X-Forwarded-For).
func startProxy(t testing.TB, endpoint string, opts Options) string {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.TokenStatus != 0 && r.Method == http.MethodPut && r.URL.Path == TokenPath {
			http.Error(w, http.StatusText(opts.TokenStatus), opts.TokenStatus)
			return
		}
		for _, p := range opts.NotFound {
			if strings.HasPrefix(r.URL.Path, p) {
				http.NotFound(w, r)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return port, nil
}
