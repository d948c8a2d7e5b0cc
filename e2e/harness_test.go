// Package e2e runs the real binaries together: ecs-controlplane, ecs-agent,
// AWS's amazon-ec2-metadata-mock, the real Docker engine and the real aws CLI.
// It tests what a user sees, through the same commands a user types.
//
// The binaries come from $ECS_TEST_BIN_DIR (make test builds them into bin/);
// without it, TestMain builds them into a temporary directory. Missing pieces
// (Docker, the aws CLI, the metadata mock) skip the tests with a message,
// except under CI=true, where they fail.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse() // testing.Short needs the flags parsed
	binDir = os.Getenv("ECS_TEST_BIN_DIR")
	if binDir == "" && !testing.Short() {
		dir, err := os.MkdirTemp("", "ecs-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, name := range []string{"ecs-agent", "ecs-controlplane", "ecs-init"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build: the agent image is FROM scratch
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: building %s: %v\n", name, err)
				return 1
			}
		}
		binDir = dir
	}
	return m.Run()
}

// requireTools skips (or, under CI, fails) when a piece the test needs is missing.
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	for _, tool := range tools {
		var err error
		switch tool {
		case "docker":
			err = exec.Command("docker", "info").Run()
		default:
			_, err = lookTool(tool)
		}
		if err != nil {
			msg := fmt.Sprintf("%s is not available (%v): run scripts/dev-setup.sh", tool, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// lookTool finds a tool on PATH or in $GOPATH/bin, where dev-setup installs Go tools.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", err
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not on PATH nor in GOPATH/bin", name)
	}
	return p, nil
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond until it returns true or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// process is a started binary whose combined output is kept for failure reports.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error
}

// output is a process's combined output, which the process writes
// straight to a file. Through a pipe, this process would have to drain
// it, and a binary that logs more than a pipe holds (64 KiB) while this
// process is busy, as in the fleet benchmarks, which run 500 agents here
// at a lower priority, would wait in every log write: the control plane's
// request latencies then measured this process.
type output struct{ path string }

func newOutput(t testing.TB, name string) (*output, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return &output{path: path}, f
}

// String is everything the process wrote so far.
func (o *output) String() string {
	b, err := os.ReadFile(o.path)
	if err != nil {
		return fmt.Sprintf("(output unreadable: %v)", err)
	}
	return string(b)
}

// start runs a binary in the background; the test's cleanup stops it and
// prints its output when the test failed.
func start(t testing.TB, name string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, f := newOutput(t, filepath.Base(name))
	defer f.Close() // the process has its own descriptor
	p := &process{name: filepath.Base(name), cmd: cmd, out: out, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", p.name, p.out.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to exit; it reports how long that took.
func (p *process) stop(t testing.TB, sig syscall.Signal) time.Duration {
	t.Helper()
	began := time.Now()
	select {
	case <-p.done:
		return 0
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within 30 s of %v", p.name, sig)
	}
	return time.Since(began)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// baseEnv is a minimal environment: the tests must not depend on the
// developer's AWS profiles, nor ever reach the real instance metadata service.
func baseEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		env = append(env, "DOCKER_HOST="+h)
	}
	return append(env, extra...)
}

// awsCLI runs `aws --endpoint-url <endpoint> ...` with env added to the base
// environment and returns stdout, stderr and the error.
func awsCLI(ctx context.Context, endpoint string, env []string, args ...string) (string, string, error) {
	full := append([]string{"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"}, args...)
	cmd := exec.CommandContext(ctx, "aws", full...)
	cmd.Env = baseEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// awsJSON runs the aws CLI and decodes its JSON output; it fails the test on error.
func awsJSON(t testing.TB, endpoint string, env []string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stdout, stderr, err := awsCLI(ctx, endpoint, env, args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			t.Fatalf("aws %s: decoding %q: %v", strings.Join(args, " "), stdout, err)
		}
	}
}

type credentials struct{ accessKey, secretKey string }

func (c credentials) env() []string {
	if c.accessKey == "" {
		return nil
	}
	return []string{"AWS_ACCESS_KEY_ID=" + c.accessKey, "AWS_SECRET_ACCESS_KEY=" + c.secretKey}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
