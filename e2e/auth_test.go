package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"
)

// Agent keys of the auth tests: ecs_role = agent in the control plane's
// credentials file, next to the admin testCreds.
var (
	agentCreds1 = credentials{accessKey: "AKIAE2EAGENTKEY00001", secretKey: "e2e-agent-one-secret-0123456789abcdefgh"}
	agentCreds2 = credentials{accessKey: "AKIAE2EAGENTKEY00002", secretKey: "e2e-agent-two-secret-0123456789abcdefgh"}
)

// startControlPlaneWithAgentKeys starts a control plane whose credentials
// file has the admin test key as [default] and the two agent keys.
func startControlPlaneWithAgentKeys(t testing.TB) *controlPlane {
	t.Helper()
	dir := t.TempDir()
	cp := &controlPlane{dataDir: filepath.Join(dir, "data"), credFile: filepath.Join(dir, "credentials")}
	ini := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", testCreds.accessKey, testCreds.secretKey)
	for i, c := range []credentials{agentCreds1, agentCreds2} {
		ini += fmt.Sprintf("[agent%d]\naws_access_key_id = %s\naws_secret_access_key = %s\necs_role = agent\n\n", i+1, c.accessKey, c.secretKey)
	}
	if err := os.WriteFile(cp.credFile, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		cp.setAddr(freeAddr(t))
		err := cp.launch(t)
		if err == nil {
			return cp
		}
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			t.Fatal(err)
		}
	}
}

// startAgentKeyCluster is startTaskCluster with the agent running on agent key 1.
func startAgentKeyCluster(t testing.TB) *taskCluster {
	t.Helper()
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	tc := &taskCluster{cp: startControlPlaneWithAgentKeys(t), name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(tc.cp)
	tc.cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })
	tc.agent = newAgent(t, tc.cp, tc.name, agentCreds1.env()...) // the later values win
	tc.startAgent(t)
	return tc
}

// awsFails runs the aws CLI with creds and returns its stderr; the command must fail.
func awsFails(t testing.TB, cp *controlPlane, creds credentials, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stdout, stderr, err := awsCLI(ctx, cp.endpoint, append(creds.env(), "AWS_MAX_ATTEMPTS=1"), args...)
	if err == nil {
		t.Fatalf("aws %s succeeded with %s: %s", strings.Join(args, " "), creds.accessKey, stdout)
	}
	return stderr
}

func requireContains(t testing.TB, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Fatalf("%q does not contain %q", s, p)
		}
	}
}

// dialACSWith opens the ACS websocket of instance arn as the agent does,
// signed with creds, and returns the HTTP status and body of a refusal.
func dialACSWith(t testing.TB, cp *controlPlane, creds credentials, cluster, arn string) (int, string) {
	t.Helper()
	q := url.Values{"clusterArn": {cluster}, "containerInstanceArn": {arn}, "protocolVersion": {"2"}, "seqNum": {"1"},
		"agentVersion": {"1.0.0"}, "agentHash": {"e2e"}, "dockerVersion": {"DockerVersion: 20.10"}, "sendCredentials": {"true"}}
	u := cp.endpoint + "/ws?" + q.Encode()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	c := aws.Credentials{AccessKeyID: creds.accessKey, SecretAccessKey: creds.secretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Authorization": req.Header["Authorization"], "X-Amz-Date": req.Header["X-Amz-Date"]}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(u, "http"), header)
	if err == nil {
		ws.Close()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial ACS: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// An agent key acts for its own instance only: a second agent key is refused
// the first instance's ACS session, its state changes, its re-registration
// and its deregistration, while the first agent goes on running tasks.
func TestE2EAgentKeysAreConfinedToTheirInstance(t *testing.T) {
	t.Parallel()
	tc := startAgentKeyCluster(t)
	inst := tc.cp.awaitInstance(t, tc.name, "the agent's instance", func(ci containerInstance) bool { return ci.AgentConnected })
	def := tc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper)))
	task := tc.runOne(t, def)
	tc.awaitStatus(t, task, "RUNNING")

	status, body := dialACSWith(t, tc.cp, agentCreds2, tc.name, inst.ContainerInstanceArn)
	if status != http.StatusForbidden {
		t.Fatalf("ACS upgrade with another agent key: HTTP %d %s, want 403", status, body)
	}
	requireContains(t, body, `"AccessDeniedException"`, "ecs:Poll on resource: "+inst.ContainerInstanceArn,
		"registered with another access key")

	stderr := awsFails(t, tc.cp, agentCreds2, "ecs", "submit-task-state-change", "--cluster", tc.name,
		"--task", task, "--status", "STOPPED", "--reason", "forged")
	requireContains(t, stderr, "AccessDeniedException", "user/agent2 is not authorized to perform: ecs:SubmitTaskStateChange")
	stderr = awsFails(t, tc.cp, agentCreds2, "ecs", "register-container-instance", "--cluster", tc.name,
		"--container-instance-arn", inst.ContainerInstanceArn)
	requireContains(t, stderr, "AccessDeniedException", "ecs:RegisterContainerInstance on resource: "+inst.ContainerInstanceArn)
	stderr = awsFails(t, tc.cp, agentCreds2, "ecs", "deregister-container-instance", "--cluster", tc.name,
		"--container-instance", inst.ContainerInstanceArn, "--force")
	requireContains(t, stderr, "AccessDeniedException", "ecs:DeregisterContainerInstance")

	// Nothing changed, and the first agent keeps working.
	if got := tc.describe(t, task)[0]; got.LastStatus != "RUNNING" || got.DesiredStatus != "RUNNING" {
		t.Fatalf("after the refused requests the task is %s/%s, want RUNNING/RUNNING", got.LastStatus, got.DesiredStatus)
	}
	tc.cp.awaitInstance(t, tc.name, "the first agent still connected", func(ci containerInstance) bool {
		return ci.AgentConnected && ci.Status == "ACTIVE" && ci.ContainerInstanceArn == inst.ContainerInstanceArn
	})
	tc.stopTask(t, task, "done")
	tc.awaitStatus(t, task, "STOPPED")

	// The refusals are logged with the access key ID and never a secret.
	logs := tc.cp.proc.out.String()
	requireContains(t, logs, "request denied", "accessKeyId="+agentCreds2.accessKey, "ACS handshake denied")
	for _, secret := range []string{agentCreds1.secretKey, agentCreds2.secretKey, testCreds.secretKey} {
		if strings.Contains(logs, secret) || strings.Contains(tc.agent.proc.out.String(), secret) {
			t.Fatal("a secret access key is in the logs")
		}
	}
}

// An agent key may do what an ECS agent does and nothing else.
func TestE2EAgentKeyIsRefusedAdminOperations(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	cp := startControlPlaneWithAgentKeys(t)
	cp.createCluster(t, "default")
	awsJSON(t, cp.endpoint, agentCreds1.env(), nil, "ecs", "create-cluster", "--cluster-name", "default")
	for _, args := range [][]string{
		{"ecs", "run-task", "--task-definition", "anything"},
		{"ecs", "delete-cluster", "--cluster", "default"},
		{"ecs", "list-container-instances"},
	} {
		stderr := awsFails(t, cp, agentCreds1, args...)
		requireContains(t, stderr, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/agent1 is not authorized to perform: ecs:",
			"ecs_role = agent")
	}
	var clusters struct {
		ClusterArns []string `json:"clusterArns"`
	}
	awsJSON(t, cp.endpoint, cp.cliEnv(), &clusters, "ecs", "list-clusters")
	if len(clusters.ClusterArns) != 1 {
		t.Fatalf("clusters %v: the refused delete-cluster must not have run", clusters.ClusterArns)
	}
}

// The same run-task sent twice with one clientToken starts one task; with
// other parameters it is a ConflictException naming that task.
func TestE2ERunTaskClientTokenStartsOneTask(t *testing.T) {
	t.Parallel()
	tc := startAgentKeyCluster(t)
	def := tc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper)))
	token := "e2e-" + uniqueName(t)
	run := func() []ecsTask {
		var out struct {
			Tasks []ecsTask `json:"tasks"`
		}
		awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "run-task", "--cluster", tc.name,
			"--task-definition", def, "--client-token", token)
		if len(out.Tasks) != 1 {
			t.Fatalf("run-task: %d tasks, want 1", len(out.Tasks))
		}
		return out.Tasks
	}
	first, second := run(), run()
	if first[0].TaskArn != second[0].TaskArn {
		t.Fatalf("the retry started %s after %s", second[0].TaskArn, first[0].TaskArn)
	}
	tc.awaitStatus(t, first[0].TaskArn, "RUNNING")

	stderr := awsFails(t, tc.cp, testCreds, "ecs", "run-task", "--cluster", tc.name, "--task-definition", def,
		"--client-token", token, "--started-by", "someone-else")
	requireContains(t, stderr, "ConflictException", token)

	var list struct {
		TaskArns []string `json:"taskArns"`
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &list, "ecs", "list-tasks", "--cluster", tc.name)
	if len(list.TaskArns) != 1 {
		t.Fatalf("list-tasks: %v, want the one task", list.TaskArns)
	}
	if ids := containersWithLabel(t, "com.amazonaws.ecs.cluster", tc.name); len(ids) != 1 {
		t.Fatalf("%d containers for the cluster, want 1", len(ids))
	}
}

// boto3 signs every request the way the control plane requires, and its
// errors decode: the second SDK family after the aws CLI's botocore.
func TestE2EBoto3(t *testing.T) {
	requireTools(t, "python3")
	t.Parallel()
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("boto3 is not installed")
		}
		t.Skip("boto3 is not installed")
	}
	cp := startControlPlaneWithAgentKeys(t)
	script := `
import json, sys, boto3, botocore
def client(key, secret):
    return boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}))
admin, agent = client(sys.argv[2], sys.argv[3]), client(sys.argv[4], sys.argv[5])
out = {"created": admin.create_cluster(clusterName="boto")["cluster"]["status"]}
out["clusters"] = admin.list_clusters()["clusterArns"]
try:
    agent.delete_cluster(cluster="boto")
except botocore.exceptions.ClientError as e:
    out["denied"] = e.response["Error"]["Code"]
    out["status"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
print(json.dumps(out))
`
	cmd := exec.Command("python3", "-c", script, cp.endpoint, testCreds.accessKey, testCreds.secretKey,
		agentCreds1.accessKey, agentCreds1.secretKey)
	cmd.Env = baseEnv()
	raw, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, raw)
	}
	var out struct {
		Created  string   `json:"created"`
		Clusters []string `json:"clusters"`
		Denied   string   `json:"denied"`
		Status   int      `json:"status"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("boto3 output %q: %v", raw, err)
	}
	if out.Created != "ACTIVE" || len(out.Clusters) != 1 || out.Denied != "AccessDeniedException" || out.Status != 400 {
		t.Fatalf("boto3 saw %+v", out)
	}
}

// A control plane asked to serve plain HTTP beyond loopback refuses to
// start; with -insecure-http it starts and warns.
func TestE2EPlainHTTPBeyondLoopback(t *testing.T) {
	requireTools(t)
	t.Parallel()
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	writeFile(t, credFile, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", testCreds.accessKey, testCreds.secretKey))
	port := freeAddr(t)[len("127.0.0.1:"):]
	args := []string{"-listen", "0.0.0.0:" + port, "-data-dir", filepath.Join(dir, "data"), "-credentials", credFile}

	refused := start(t, filepath.Join(binDir, "ecs-controlplane"), baseEnv(), args...)
	select {
	case <-refused.done:
	case <-time.After(20 * time.Second):
		t.Fatal("ecs-controlplane did not exit")
	}
	var exitErr *exec.ExitError
	if !errors.As(refused.err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("exit: %v, want exit code 2", refused.err)
	}
	requireContains(t, refused.out.String(), "refusing to serve plain HTTP beyond loopback", "-tls-cert", "-insecure-http")

	insecure := start(t, filepath.Join(binDir, "ecs-controlplane"), baseEnv(), append(args, "-insecure-http")...)
	waitFor(t, 20*time.Second, "the control plane to answer on loopback", func() bool {
		if insecure.exited() {
			t.Fatalf("ecs-controlplane -insecure-http exited: %v\n%s", insecure.err, insecure.out)
		}
		resp, err := http.Post("http://127.0.0.1:"+port+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	requireContains(t, insecure.out.String(), "level=WARN", "serving plain HTTP beyond loopback")
	insecure.stop(t, syscall.SIGTERM)
}
