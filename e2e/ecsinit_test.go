package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"

	"github.com/open-ecs/ecs-agent/ecsinit"
)

// requireRoot skips (or fails under CI) when the test cannot change network
// namespaces and iptables.
func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	requireTools(t, tools...)
	if os.Geteuid() != 0 {
		msg := "needs root to create a network namespace and change its iptables rules"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// emptyConfig is an ecs.config that keeps the host's /etc/ecs/ecs.config
// out of the test.
func emptyConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "ecs.config")
	writeFile(t, p, "")
	return p
}

// runInit runs `ecs-init -config file -instance-config - args...`, prefixed
// by prefix (e.g. ip netns exec), and returns its output and exit code.
func runInit(t *testing.T, env []string, config string, prefix []string, args ...string) (string, int) {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), filepath.Join(binDir, "ecs-init"), "-config", config, "-instance-config", "-"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("ecs-init %v: %v", args, err)
	}
	return string(out), code
}

// hostRulesState is what the helper reports from inside the namespace.
type hostRulesState struct {
	Rules         []string // rules tagged with ecsinit.RuleComment, as "table chain spec"
	RouteLocalnet string
}

const rulesHelperEnv = "ECS_E2E_RULES_HELPER"

// TestE2EECSInitRulesHelper is not a test: run inside a network namespace
// by TestE2EECSInitHostRules, it lists the namespace's ecs-init rules with
// the iptables library and prints them as JSON.
func TestE2EECSInitRulesHelper(t *testing.T) {
	t.Parallel()
	if os.Getenv(rulesHelperEnv) == "" {
		t.Skip("helper of TestE2EECSInitHostRules")
	}
	ipt, err := iptables.New()
	if err != nil {
		t.Fatal(err)
	}
	var st hostRulesState
	for _, tc := range [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"filter", "INPUT"}} {
		lines, err := ipt.List(tc[0], tc[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if strings.Contains(l, "--comment "+ecsinit.RuleComment) {
				st.Rules = append(st.Rules, tc[0]+" "+l)
			}
		}
	}
	v, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/route_localnet")
	if err != nil {
		t.Fatal(err)
	}
	st.RouteLocalnet = strings.TrimSpace(string(v))
	out, _ := json.Marshal(st)
	fmt.Printf("STATE %s\n", out)
}

// TestE2EECSInitHostRules runs ecs-init pre-start and post-stop inside a
// network namespace of its own: the rules are there once each after two
// pre-starts, and gone after post-stop. The host's rules are never touched.
func TestE2EECSInitHostRules(t *testing.T) {
	t.Parallel()
	requireRoot(t, "ip", "iptables")
	ns := fmt.Sprintf("ecsinit-e2e-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	inNS := []string{"ip", "netns", "exec", ns}
	config := emptyConfig(t)

	state := func() hostRulesState {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestE2EECSInitRulesHelper$", "-test.count=1")
		cmd.Env = append(baseEnv(), rulesHelperEnv+"=1", "ECS_TEST_BIN_DIR="+binDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rules helper: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if j, ok := strings.CutPrefix(line, "STATE "); ok {
				var st hostRulesState
				if err := json.Unmarshal([]byte(j), &st); err != nil {
					t.Fatal(err)
				}
				return st
			}
		}
		t.Fatalf("rules helper printed no state:\n%s", out)
		return hostRulesState{}
	}

	want := []string{
		"nat -A PREROUTING -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -m comment --comment open-ecs-init -j DNAT --to-destination 127.0.0.1:51679",
		"nat -A OUTPUT -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -m comment --comment open-ecs-init -j REDIRECT --to-ports 51679",
		"filter -A INPUT -i docker0 -p tcp -m tcp --dport 51678 -m comment --comment open-ecs-init -j ACCEPT",
		"filter -A INPUT ! -i lo -p tcp -m tcp --dport 51678 -m comment --comment open-ecs-init -j DROP",
		"filter -A INPUT ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment open-ecs-init -j DROP",
	}
	for round := 1; round <= 2; round++ {
		if out, code := runInit(t, baseEnv(), config, inNS, "pre-start"); code != 0 {
			t.Fatalf("pre-start (round %d) exited %d:\n%s", round, code, out)
		}
		st := state()
		if strings.Join(st.Rules, "\n") != strings.Join(want, "\n") {
			t.Fatalf("after pre-start round %d the rules are\n%s\nwant\n%s", round, strings.Join(st.Rules, "\n"), strings.Join(want, "\n"))
		}
		if st.RouteLocalnet != "1" {
			t.Fatalf("route_localnet = %s after pre-start, want 1", st.RouteLocalnet)
		}
	}
	for round := 1; round <= 2; round++ {
		if out, code := runInit(t, baseEnv(), config, inNS, "post-stop"); code != 0 {
			t.Fatalf("post-stop (round %d) exited %d:\n%s", round, code, out)
		}
		if st := state(); len(st.Rules) != 0 {
			t.Fatalf("rules left after post-stop:\n%s", strings.Join(st.Rules, "\n"))
		}
	}
}

// TestE2EECSInitWithoutCredentials: an agent with no credentials exits 5
// with a message that says what to set, and ecs-init passes the 5 on, which
// the ecs unit does not restart. Binary mode, so no image is needed.
func TestE2EECSInitWithoutCredentials(t *testing.T) {
	requireTools(t, "docker")
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "ecs.config")
	writeFile(t, config, strings.Join([]string{
		"ECS_INIT_AGENT_MODE=binary",
		"ECS_INIT_AGENT_BINARY=" + filepath.Join(binDir, "ecs-agent"),
		"ECS_INIT_LOG_DIR=" + dir + "/log",
		"ECS_INIT_RUN_DIR=" + dir + "/run",
		"ECS_HOST_DATA_DIR=" + dir + "/lib",
		"ECS_INIT_CACHE_DIR=" + dir + "/cache",
		"ECS_CLUSTER=nocreds",
		"ECS_BACKEND_HOST=http://127.0.0.1:1",
		"ECS_INTROSPECTION_ADDR=" + freeAddr(t),
		"ECS_TASK_METADATA_ADDR=" + freeAddr(t),
		"AWS_DEFAULT_REGION=us-east-1",
	}, "\n"))
	out, code := runInit(t, baseEnv(), config, nil, "start")
	if code != 5 {
		t.Fatalf("ecs-init start exited %d, want 5 (terminal):\n%s", code, out)
	}
	for _, want := range []string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "instance role"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}

// TestE2EECSInitStartStop is the init service's life as a user sees it:
// ecs-init start loads the agent image from the cache tarball (there is no
// registry), runs the agent container, which registers and runs a task;
// ecs-init stop stops the agent, start exits 0, and the task keeps running.
func TestE2EECSInitStartStop(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	requireImage(t, testImage)
	dir := t.TempDir()
	image := fmt.Sprintf("open-ecs/ecs-agent:e2e-init-%d", time.Now().UnixNano())
	if out, err := exec.Command("../scripts/build-image.sh", binDir+"/ecs-agent", image).CombinedOutput(); err != nil {
		t.Fatalf("building the agent image: %v\n%s", err, out)
	}
	cache := filepath.Join(dir, "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "save", "-o", filepath.Join(cache, ecsinit.ImageTarball), image).CombinedOutput(); err != nil {
		t.Fatalf("docker save: %v\n%s", err, out)
	}
	untag := func() { _ = exec.Command("docker", "rmi", image).Run() }
	untag() // ecs-init must load it from the tarball
	t.Cleanup(untag)

	tc := &taskCluster{cp: startControlPlane(t), name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(tc.cp)
	tc.cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })

	name := "ecs-agent-" + tc.name
	introspection := freeAddr(t)
	config := filepath.Join(dir, "etc", "ecs.config")
	if err := os.MkdirAll(filepath.Dir(config), 0o755); err != nil {
		t.Fatal(err)
	}
	// Keys in ecs.config reach the agent, as with the incumbent's ecs-init.
	writeFile(t, config, strings.Join([]string{
		"# written by TestE2EECSInitStartStop",
		"ECS_CLUSTER=" + tc.name,
		"ECS_BACKEND_HOST=" + tc.cp.endpoint,
		"ECS_INTROSPECTION_ADDR=" + introspection,
		"ECS_TASK_METADATA_ADDR=" + freeAddr(t), // several agents share the test host
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + testCreds.accessKey,
		"AWS_SECRET_ACCESS_KEY=" + testCreds.secretKey,
		"ECS_LOGLEVEL=debug",
		"ECS_INIT_AGENT_IMAGE=" + image,
		"ECS_INIT_CONTAINER_NAME=" + name,
		"ECS_INIT_CACHE_DIR=" + cache,
		"ECS_INIT_LOG_DIR=" + dir + "/log",
		"ECS_HOST_DATA_DIR=" + dir + "/lib",
	}, "\n"))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("---- agent container logs ----\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
	})

	initProc := start(t, filepath.Join(binDir, "ecs-init"), baseEnv(), "-config", config, "-instance-config", "-", "start")
	tc.agent = &agent{introspection: introspection, proc: initProc} // the task waits watch ecs-init
	md := waitMetadata(t, introspection, func() string {
		if initProc.exited() {
			return fmt.Sprintf("ecs-init exited: %v", initProc.err)
		}
		return "running"
	})
	tc.cp.awaitInstance(t, tc.name, "the agent container to connect", func(ci containerInstance) bool {
		return ci.AgentConnected && ci.ContainerInstanceArn == md.ContainerInstanceArn
	})
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper))))
	task := tc.awaitStatus(t, arn, "RUNNING")
	taskContainer := task.container(t, "main").RuntimeID

	out, code := runInit(t, baseEnv(), config, nil, "stop")
	if code != 0 {
		t.Fatalf("ecs-init stop exited %d:\n%s", code, out)
	}
	waitFor(t, 45*time.Second, "ecs-init start to exit after stop", initProc.exited)
	if initProc.err != nil {
		t.Errorf("ecs-init start: %v, want exit 0 after a clean stop", initProc.err)
	}
	if !strings.Contains(initProc.out.String(), "registered container instance") {
		t.Errorf("ecs-init start did not pass the agent's output on:\n%s", initProc.out.String())
	}
	if st, ok := inspectContainer(t, taskContainer); !ok || !st.State.Running {
		t.Errorf("the task's container is not running after ecs-init stop: %+v (exists %v)", st.State, ok)
	}
	state, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).Output()
	if got := strings.TrimSpace(string(state)); got != "exited 0" {
		t.Errorf("agent container after stop: %q, want exited 0", got)
	}
}
