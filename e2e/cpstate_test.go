package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// populatedControlPlane runs the real control plane, gives it a cluster and
// a task definition through the aws CLI, and stops it: what is left in its
// data dir is a controlplane.db as the binary writes it.
func populatedControlPlane(t *testing.T) (*controlPlane, string) {
	t.Helper()
	requireTools(t, "aws")
	cp := startControlPlane(t)
	cp.createCluster(t, "default")
	awsJSON(t, cp.endpoint, cp.cliEnv(), nil, "ecs", "register-task-definition", "--family", "sleep",
		"--container-definitions", `[{"name":"main","image":"ecs-agent-test/busybox:latest","memory":32,"command":["sleep","60"]}]`)
	cp.proc.stop(t, syscall.SIGTERM)
	path := filepath.Join(cp.dataDir, "controlplane.db")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	return cp, path
}

// requireRefused restarts the control plane on its damaged file and
// asserts that it exits 5, names the file and the fix, does not crash, and
// leaves the file as it was.
func requireRefused(t *testing.T, cp *controlPlane, path, why string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.launch(t); err == nil {
		t.Fatal("the control plane started on a damaged controlplane.db")
	}
	var exit *exec.ExitError
	if !errors.As(cp.proc.err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("want exit code 5, got %v", cp.proc.err)
	}
	out := cp.proc.out.String()
	for _, want := range []string{path, why, "mv " + path + " " + path + ".bad", "restore it from a backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("the control plane crashed:\n%s", out)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the refused file was changed")
	}
}

func TestE2EControlPlaneRefusesAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	cp, path := populatedControlPlane(t)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	requireRefused(t, cp, path, "it is empty (0 bytes)")
}

// Every data page scribbled, the two meta pages intact: bbolt alone would
// panic (invalid freelist page) or fault.
func TestE2EControlPlaneRefusesACorruptDatabase(t *testing.T) {
	t.Parallel()
	cp, path := populatedControlPlane(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	r := rand.New(rand.NewPCG(5, 6))
	for i := 2 * page; i < len(raw); i++ {
		raw[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	requireRefused(t, cp, path, "its page structure is damaged")
}

// A controlplane.db written before schema versions (by the control plane
// of fab846d; see controlplane/store/testdata/genv0) is migrated at start,
// and what it holds is served through the aws CLI.
func TestE2EControlPlaneMigratesAVersion0Database(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.proc.stop(t, syscall.SIGTERM)
	testdata := filepath.Join("..", "controlplane", "store", "testdata", "v0")
	raw, err := os.ReadFile(filepath.Join(testdata, "controlplane.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cp.dataDir, "controlplane.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var records struct {
		Tasks []struct {
			ARN        string     `json:"taskArn"`
			LastStatus string     `json:"lastStatus"`
			Desired    string     `json:"desiredStatus"`
			StoppedAt  *time.Time `json:"stoppedAt"`
		} `json:"tasks"`
	}
	js, err := os.ReadFile(filepath.Join(testdata, "records.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &records); err != nil {
		t.Fatal(err)
	}
	// The file's ARNs carry account 123456789012; this control plane's
	// default account is 000000000000, so tasks are named by ID.
	cp.restart(t)
	if !strings.Contains(cp.proc.out.String(), "migrated the control plane database") {
		t.Errorf("no migration logged:\n%s", cp.proc.out.String())
	}

	var clusters struct {
		ClusterArns []string `json:"clusterArns"`
	}
	awsJSON(t, cp.endpoint, cp.cliEnv(), &clusters, "ecs", "list-clusters")
	if len(clusters.ClusterArns) != 2 {
		t.Errorf("want the two ACTIVE clusters, got %v", clusters.ClusterArns)
	}
	// The stopped tasks stopped when the file was made: once that is more
	// than an hour ago, the pruner has deleted them at start.
	args := []string{"ecs", "describe-tasks", "--cluster", "default", "--tasks"}
	want := map[string]string{} // ARN -> lastStatus/desiredStatus, or MISSING
	for _, task := range records.Tasks {
		args = append(args, task.ARN[strings.LastIndex(task.ARN, "/")+1:])
		switch {
		case task.StoppedAt == nil || time.Since(*task.StoppedAt) < time.Hour:
			want[task.ARN] = task.LastStatus + "/" + task.Desired
		case time.Since(*task.StoppedAt) > time.Hour+time.Minute:
			want[task.ARN] = "MISSING"
		}
	}
	var described struct {
		Tasks []struct {
			ARN        string `json:"taskArn"`
			LastStatus string `json:"lastStatus"`
			Desired    string `json:"desiredStatus"`
		} `json:"tasks"`
		Failures []struct {
			ARN    string `json:"arn"`
			Reason string `json:"reason"`
		} `json:"failures"`
	}
	awsJSON(t, cp.endpoint, cp.cliEnv(), &described, args...)
	got := map[string]string{}
	for _, task := range described.Tasks {
		got[task.ARN] = task.LastStatus + "/" + task.Desired
	}
	for _, f := range described.Failures {
		got[strings.Replace(f.ARN, "000000000000", "123456789012", 1)] = f.Reason
	}
	for arn, w := range want {
		if got[arn] != w {
			t.Errorf("task %s: got %q, want %q", arn, got[arn], w)
		}
	}
	var running struct {
		TaskArns []string `json:"taskArns"`
	}
	awsJSON(t, cp.endpoint, cp.cliEnv(), &running, "ecs", "list-tasks", "--cluster", "default")
	if len(running.TaskArns) != 2 {
		t.Errorf("want the two tasks whose desired status is RUNNING, got %v", running.TaskArns)
	}
}
