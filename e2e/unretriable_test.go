package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2EUnknownClusterIsTerminal: an agent configured for a cluster that
// does not exist stops with exit code 5 (terminal: do not restart) and says
// which cluster.
func TestE2EUnknownClusterIsTerminal(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	a := newAgent(t, cp, "no-such-cluster")
	a.start(t)
	waitFor(t, 30*time.Second, "the agent to exit", a.proc.exited)
	var exit *exec.ExitError
	if !errors.As(a.proc.err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("agent exit = %v, want exit code 5", a.proc.err)
	}
	if out := a.proc.out.String(); !strings.Contains(out, "ClusterNotFoundException") || !strings.Contains(out, "no-such-cluster") {
		t.Fatalf("agent output must name the error and the cluster:\n%s", out)
	}
}

// TestE2EDeregisteredInstance deregisters a connected instance: the control
// plane closes its session and refuses new ones as inactive; the agent stays
// up (as Amazon's does, waiting before it tries again) and is reported
// disconnected.
func TestE2EDeregisteredInstance(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cp.createCluster(t, "dereg")
	a := newAgent(t, cp, "dereg")
	a.start(t)
	md := a.awaitMetadata(t)
	cp.awaitInstance(t, "dereg", "the instance to be connected", func(ci containerInstance) bool { return ci.AgentConnected })

	awsJSON(t, cp.endpoint, cp.cliEnv(), nil, "ecs", "deregister-container-instance",
		"--cluster", "dereg", "--container-instance", md.ContainerInstanceArn)

	var desc struct {
		ContainerInstances []containerInstance `json:"containerInstances"`
	}
	waitFor(t, 30*time.Second, "the deregistered instance to be INACTIVE and disconnected", func() bool {
		awsJSON(t, cp.endpoint, cp.cliEnv(), &desc, "ecs", "describe-container-instances",
			"--cluster", "dereg", "--container-instances", md.ContainerInstanceArn)
		return len(desc.ContainerInstances) == 1 && desc.ContainerInstances[0].Status == "INACTIVE" &&
			!desc.ContainerInstances[0].AgentConnected
	})
	waitFor(t, 30*time.Second, "the agent to log that its instance is inactive", func() bool {
		return strings.Contains(a.proc.out.String(), "InactiveInstanceException")
	})
	if a.proc.exited() {
		t.Fatalf("the agent exited after deregistration (%v); it must wait and retry", a.proc.err)
	}
}
