package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2EAgentInContainer runs the agent the way many operators do: as a
// container from its FROM-scratch image, with the Docker socket and a data
// directory mounted and host networking.
func TestE2EAgentInContainer(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	const image = "open-ecs/ecs-agent:e2e"
	if out, err := exec.Command("../scripts/build-image.sh", binDir+"/ecs-agent", image).CombinedOutput(); err != nil {
		t.Fatalf("building the agent image: %v\n%s", err, out)
	}
	cp := startControlPlane(t)
	cp.createCluster(t, "boxed")
	a := newAgent(t, cp, "boxed")
	name := fmt.Sprintf("ecs-agent-e2e-%d", time.Now().UnixNano())

	args := []string{"run", "-d", "--name", name, "--net", "host",
		"-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", a.dataDir + ":/data"}
	for _, kv := range []string{"ECS_CLUSTER=boxed", "ECS_BACKEND_HOST=" + cp.endpoint, "ECS_INTROSPECTION_ADDR=" + a.introspection,
		"ECS_TASK_METADATA_ADDR=" + freeAddr(t), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"} {
		args = append(args, "-e", kv)
	}
	args = append(args, "-e", "AWS_ACCESS_KEY_ID", "-e", "AWS_SECRET_ACCESS_KEY", image)
	run := exec.Command("docker", args...)
	run.Env = baseEnv(testCreds.env()...) // -e NAME passes the value without putting it on the command line
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("---- agent container logs ----\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
	})

	md := waitMetadata(t, a.introspection, func() string {
		state, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", name).Output()
		return strings.TrimSpace(string(state))
	})
	cp.awaitInstance(t, "boxed", "the containerized agent to connect", func(ci containerInstance) bool {
		return ci.AgentConnected && ci.ContainerInstanceArn == md.ContainerInstanceArn
	})
	if out, err := exec.Command("docker", "exec", name, "/ecs-agent", "-healthcheck").CombinedOutput(); err != nil {
		t.Errorf("the image's health check failed: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "stop", "-t", "20", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v\n%s", err, out)
	}
	code, _ := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", name).Output()
	if strings.TrimSpace(string(code)) != "0" {
		t.Errorf("agent container exit code after docker stop = %s, want 0 (clean SIGTERM)", code)
	}
}
