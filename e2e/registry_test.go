package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The local registry scripts/dev-setup.sh runs for the pull tests: Debian's
// docker-registry on loopback with htpasswd basic auth.
const (
	registryAddr = "127.0.0.1:5000"
	registryUser = "ecs-test"
)

// registryDir is where dev-setup keeps the registry's state, its generated
// password and its log.
func registryDir() string {
	if d := os.Getenv("ECS_TEST_REGISTRY_DIR"); d != "" {
		return d
	}
	return "/var/tmp/ecs-agent-test-registry"
}

// requireRegistry checks that the test registry answers with its credentials
// and returns the password; it skips (or fails under CI) otherwise.
func requireRegistry(t testing.TB) string {
	t.Helper()
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + ": run make dev-setup, which starts the test registry"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pw, err := os.ReadFile(filepath.Join(registryDir(), "password"))
	if err != nil {
		fail("the test registry's password: %v", err)
	}
	password := strings.TrimSpace(string(pw))
	req, _ := http.NewRequest(http.MethodGet, "http://"+registryAddr+"/v2/", nil)
	req.SetBasicAuth(registryUser, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("the test registry on %s: %v", registryAddr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail("the test registry on %s answers %s with its credentials", registryAddr, resp.Status)
	}
	return password
}

// pushToRegistry pushes the test image to the registry as a repository unique
// to this test and returns its reference; the local tag is removed, so the
// agent has to pull it. The cleanup removes the tag the agent pulled (the
// image itself stays: the test image holds it).
func pushToRegistry(t testing.TB, password string) string {
	t.Helper()
	ref := fmt.Sprintf("%s/ecs-test/%s:latest", registryAddr, uniqueName(t))
	cfg := t.TempDir() // a throw-away client config: no credentials in ~/.docker
	docker := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--config", cfg}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	docker(password, "login", "-u", registryUser, "--password-stdin", registryAddr)
	docker("", "tag", testImage, ref)
	docker("", "push", ref)
	docker("", "rmi", ref)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", ref).Run() })
	return ref
}

// registryRepo is the repository path of a reference to the test registry.
func registryRepo(ref string) string {
	repo := strings.TrimPrefix(ref, registryAddr+"/")
	if i := strings.LastIndex(repo, ":"); i >= 0 {
		repo = repo[:i]
	}
	return repo
}

// manifestRequests counts the manifest requests the registry answered for
// repo, from its log: each pull fetches the manifest once.
func manifestRequests(t testing.TB, repo string) int {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(registryDir(), "registry.log"))
	if err != nil {
		t.Fatalf("the test registry's log: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `msg="response completed"`) && strings.Contains(line, "/v2/"+repo+"/manifests/") {
			n++
		}
	}
	return n
}

// engineAuthEnv is the agent's ECS_ENGINE_AUTH_* environment for the test
// registry with the given password.
func engineAuthEnv(t testing.TB, password string) []string {
	t.Helper()
	data, err := json.Marshal(map[string]any{registryAddr: map[string]string{"username": registryUser, "password": password}})
	if err != nil {
		t.Fatal(err)
	}
	return []string{"ECS_ENGINE_AUTH_TYPE=docker", "ECS_ENGINE_AUTH_DATA=" + string(data)}
}
