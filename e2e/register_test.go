package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-ecs/ecs-agent/ec2metadata/imdstest"
)

// TestE2ERegisterConnectKillRestart is the walking skeleton as a user sees it:
// the instance is ACTIVE and connected, turns disconnected when the agent is
// killed, and comes back with the same ARN when the agent restarts.
func TestE2ERegisterConnectKillRestart(t *testing.T) {
	requireTools(t, "docker", "aws", "ec2-metadata-mock")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "e2e")
	imds := imdstest.Start(t, imdstest.Options{})

	logFile := filepath.Join(t.TempDir(), "ecs-agent.log")
	a := newAgent(t, cp, "e2e", "AWS_EC2_METADATA_DISABLED=false", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds,
		"ECS_LOGFILE="+logFile)
	a.start(t)
	md := a.awaitMetadata(t)
	if md.Cluster != "e2e" || !strings.HasPrefix(md.ContainerInstanceArn, "arn:aws:ecs:us-east-1:") {
		t.Fatalf("introspection metadata = %+v, want cluster e2e and a container-instance ARN", md)
	}
	if !strings.HasPrefix(md.Version, "Open ECS Agent - v") {
		t.Errorf("introspection Version = %q, want \"Open ECS Agent - v<version> (<hash>)\"", md.Version)
	}

	ci := cp.awaitInstance(t, "e2e", "the instance to be connected", func(ci containerInstance) bool { return ci.AgentConnected })
	if ci.ContainerInstanceArn != md.ContainerInstanceArn || ci.Status != "ACTIVE" {
		t.Fatalf("described instance %s status %s, want %s ACTIVE", ci.ContainerInstanceArn, ci.Status, md.ContainerInstanceArn)
	}
	if ci.Ec2InstanceID == "" {
		t.Errorf("ec2InstanceId is empty; the metadata mock serves one")
	}
	if cpu, ok := ci.resource("CPU"); !ok || cpu.IntegerValue != int64(runtime.NumCPU()*1024) {
		t.Errorf("registered CPU = %+v, want %d", cpu, runtime.NumCPU()*1024)
	}
	if mem, ok := ci.resource("MEMORY"); !ok || mem.IntegerValue <= 0 {
		t.Errorf("registered MEMORY = %+v, want the host's MiB", mem)
	}
	if ports, ok := ci.resource("PORTS"); !ok || !contains(ports.StringSetValue, "22") {
		t.Errorf("registered PORTS = %+v, want the reserved ports", ports)
	}
	if ci.VersionInfo.AgentVersion == "" || !strings.HasPrefix(ci.VersionInfo.DockerVersion, "DockerVersion: ") {
		t.Errorf("versionInfo = %+v, want the agent and Docker versions", ci.VersionInfo)
	}
	if v, _ := ci.attribute("ecs.os-type"); v != "linux" {
		t.Errorf("attribute ecs.os-type = %q, want linux", v)
	}

	// The health check succeeds while the agent answers.
	hc := exec.Command(a.proc.cmd.Path, "-healthcheck")
	hc.Env = a.env
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("ecs-agent -healthcheck: %v\n%s", err, out)
	}

	a.stop(t, syscall.SIGKILL)
	cp.awaitInstance(t, "e2e", "agentConnected to turn false after SIGKILL", func(ci containerInstance) bool { return !ci.AgentConnected })

	hc = exec.Command(a.proc.cmd.Path, "-healthcheck")
	hc.Env = a.env
	if err := hc.Run(); err == nil {
		t.Errorf("ecs-agent -healthcheck exited 0 with no agent running")
	}

	a.start(t)
	again := a.awaitMetadata(t)
	if again.ContainerInstanceArn != md.ContainerInstanceArn {
		t.Fatalf("restarted agent registered as %s, want the same ARN %s", again.ContainerInstanceArn, md.ContainerInstanceArn)
	}
	back := cp.awaitInstance(t, "e2e", "the restarted agent to be connected", func(ci containerInstance) bool { return ci.AgentConnected })
	if back.ContainerInstanceArn != md.ContainerInstanceArn {
		t.Fatalf("instance after restart = %s, want %s", back.ContainerInstanceArn, md.ContainerInstanceArn)
	}

	// SIGTERM stops the agent cleanly within a few seconds.
	if took := a.stop(t, syscall.SIGTERM); took > 10*time.Second {
		t.Errorf("agent took %s to stop after SIGTERM, want a few seconds", took)
	}
	if a.proc.err != nil {
		t.Errorf("agent exit after SIGTERM: %v, want 0", a.proc.err)
	}

	// ECS_LOGFILE gets the same records, and no log anywhere holds the secret key.
	fileLog, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(fileLog), "registered container instance") {
		t.Errorf("ECS_LOGFILE %s: %v, want the agent's records:\n%s", logFile, err, fileLog)
	}
	for name, out := range map[string]string{"agent": a.proc.out.String(), "log file": string(fileLog), "control plane": cp.proc.out.String()} {
		if strings.Contains(out, testCreds.secretKey) {
			t.Errorf("the %s output contains the secret access key", name)
		}
	}
}

// TestE2EControlPlaneRestart stops and restarts the control plane under a
// connected agent: the agent reconnects by itself and nothing is lost.
func TestE2EControlPlaneRestart(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "restart")
	a := newAgent(t, cp, "restart")
	a.start(t)
	md := a.awaitMetadata(t)
	cp.awaitInstance(t, "restart", "the instance to be connected", func(ci containerInstance) bool { return ci.AgentConnected })

	cp.proc.stop(t, syscall.SIGTERM)
	cp.restart(t)

	ci := cp.awaitInstance(t, "restart", "the agent to reconnect to the restarted control plane", func(ci containerInstance) bool { return ci.AgentConnected })
	if ci.ContainerInstanceArn != md.ContainerInstanceArn || ci.Status != "ACTIVE" {
		t.Fatalf("after restart: %s %s, want %s ACTIVE", ci.ContainerInstanceArn, ci.Status, md.ContainerInstanceArn)
	}
	if a.proc.exited() {
		t.Fatalf("the agent exited while the control plane was down: %v", a.proc.err)
	}
}

// TestE2ENoMetadataService runs the agent where no metadata service answers,
// as on a private cloud: with a region it registers, without one it stops
// and says to set AWS_DEFAULT_REGION.
func TestE2ENoMetadataService(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "private")
	dead := "http://" + freeAddr(t)

	a := newAgent(t, cp, "private", "AWS_EC2_METADATA_DISABLED=false", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+dead)
	a.start(t)
	a.awaitMetadata(t)
	a.stop(t, syscall.SIGTERM)

	noRegion := newAgent(t, cp, "private", "AWS_EC2_METADATA_DISABLED=false", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+dead)
	noRegion.env = withoutEnv(noRegion.env, "AWS_DEFAULT_REGION")
	noRegion.start(t)
	waitFor(t, 30*time.Second, "the agent without a region to exit", noRegion.proc.exited)
	if noRegion.proc.err == nil || !strings.Contains(noRegion.proc.out.String(), "AWS_DEFAULT_REGION") {
		t.Fatalf("agent without region or IMDS: exit %v, output must name AWS_DEFAULT_REGION:\n%s", noRegion.proc.err, noRegion.proc.out)
	}
}

// TestE2EBadConfigLine checks that a bad line in ecs.config stops the agent
// with a message naming the key and the line, and that -check-config says so too.
func TestE2EBadConfigLine(t *testing.T) {
	requireTools(t)
	t.Parallel()
	cp := &controlPlane{endpoint: "http://" + freeAddr(t)}
	a := newAgent(t, cp, "bad")
	config := "# test config\nECS_CLUSTER=bad\nECS_RESERVED_MEMORY=lots\n"
	writeFile(t, a.configFile, config)

	for _, args := range [][]string{{"-config", a.configFile}, {"-config", a.configFile, "-check-config"}} {
		cmd := exec.Command(binDir+"/ecs-agent", args...)
		cmd.Env = a.env
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("ecs-agent %v exited 0 with a bad config line", args)
		}
		for _, want := range []string{"ECS_RESERVED_MEMORY", a.configFile + ":3", "lots"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("ecs-agent %v output lacks %q:\n%s", args, want, out)
			}
		}
	}
}

// TestE2ESignatureRequired checks that unsigned and wrongly signed requests
// get the ECS error, not data.
func TestE2ESignatureRequired(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "secret")

	cases := []struct {
		name  string
		creds credentials
		extra []string
		want  string
	}{
		{"unsigned", testCreds, []string{"--no-sign-request"}, "MissingAuthenticationTokenException"},
		{"wrong secret", credentials{testCreds.accessKey, "not-the-secret"}, nil, "InvalidSignatureException"},
		{"unknown key", credentials{"AKIAUNKNOWNKEY000000", testCreds.secretKey}, nil, "UnrecognizedClientException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append(append([]string{}, tc.extra...), "ecs", "list-clusters")
			stdout, stderr, err := awsCLI(ctx, cp.endpoint, tc.creds.env(), args...)
			if err == nil || strings.Contains(stdout, "cluster/secret") {
				t.Fatalf("aws %v succeeded: %s", args, stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("aws %v error = %q, want %s", args, stderr, tc.want)
			}
		})
	}

	// A raw unsigned HTTP request gets the ECS error shape too.
	req, _ := http.NewRequest(http.MethodPost, cp.endpoint+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned raw request: status %d, want 400 or 403", resp.StatusCode)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestE2EFrozenAgentLosesConnection freezes the agent (SIGSTOP) so that its
// socket stays open but heartbeats go unanswered: the control plane must mark
// it disconnected after the missed acknowledgements, and the agent, thawed,
// must reconnect by itself.
func TestE2EFrozenAgentLosesConnection(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "frozen")
	a := newAgent(t, cp, "frozen")
	a.start(t)
	a.awaitMetadata(t)
	cp.awaitInstance(t, "frozen", "the instance to be connected", func(ci containerInstance) bool { return ci.AgentConnected })

	if err := a.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cp.awaitInstance(t, "frozen", "agentConnected to turn false while heartbeats go unacknowledged", func(ci containerInstance) bool { return !ci.AgentConnected })

	if err := a.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cp.awaitInstance(t, "frozen", "the thawed agent to reconnect", func(ci containerInstance) bool { return ci.AgentConnected })
}

// TestE2EPrivateCloudWithoutDynamicData runs the agent against a metadata
// service whose /latest/dynamic paths answer 404, as on private clouds: it
// registers with an empty identity document and the region from the metadata.
func TestE2EPrivateCloudWithoutDynamicData(t *testing.T) {
	requireTools(t, "docker", "aws", "ec2-metadata-mock")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "partial")
	imds := imdstest.Start(t, imdstest.Options{NotFound: []string{"/latest/dynamic/"}})

	a := newAgent(t, cp, "partial", "AWS_EC2_METADATA_DISABLED=false", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds)
	a.env = withoutEnv(a.env, "AWS_DEFAULT_REGION") // the region must come from placement/region
	a.start(t)
	md := a.awaitMetadata(t)
	if !strings.HasPrefix(md.ContainerInstanceArn, "arn:aws:ecs:us-east-1:") {
		t.Fatalf("registered as %q, want an instance in us-east-1", md.ContainerInstanceArn)
	}
	cp.awaitInstance(t, "partial", "the instance to be connected", func(ci containerInstance) bool { return ci.AgentConnected })
}
