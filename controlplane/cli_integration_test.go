package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
)

// findAWSCLI returns the aws CLI, or skips (fails under CI=true) without it.
func findAWSCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("aws"); err == nil {
		return p
	}
	const pyenvShim = "/root/.pyenv/shims/aws"
	if _, err := os.Stat(pyenvShim); err == nil {
		return pyenvShim
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("aws CLI not found (CI=true: integration tests must run)")
	}
	t.Skip("aws CLI not found; install it to run this integration test")
	return ""
}

// cli runs the aws CLI against one endpoint with isolated configuration.
type cli struct {
	t        *testing.T
	bin, url string
	secret   string
}

// run executes `aws ... ecs <args>`; it returns stdout, stderr and whether
// the command succeeded.
func (c cli) run(extra []string, args ...string) (string, string, bool) {
	c.t.Helper()
	full := append([]string{"--endpoint-url", c.url, "--region", "us-east-1", "--output", "json"}, extra...)
	full = append(full, append([]string{"ecs"}, args...)...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+testKey,
		"AWS_SECRET_ACCESS_KEY="+c.secret,
		"AWS_SESSION_TOKEN=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_RETRY_MODE=standard",
		"AWS_MAX_ATTEMPTS=1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err == nil
}

// ok runs a command that must succeed and decodes its JSON output.
func (c cli) ok(args ...string) map[string]any {
	c.t.Helper()
	stdout, stderr, ok := c.run(nil, args...)
	require.True(c.t, ok, "aws ecs %s failed: %s", strings.Join(args, " "), stderr)
	var out map[string]any
	require.NoError(c.t, json.Unmarshal([]byte(stdout), &out), stdout)
	return out
}

// fails runs a command that must fail with the given ECS error code.
func (c cli) fails(code string, extra []string, args ...string) string {
	c.t.Helper()
	_, stderr, ok := c.run(extra, args...)
	require.False(c.t, ok, "aws ecs %s should have failed", strings.Join(args, " "))
	assert.Contains(c.t, stderr, "("+code+")")
	return stderr
}

// dig walks a decoded JSON value by map keys and list indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func TestIntegrationAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the aws CLI")
	}
	bin := findAWSCLI(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	aws := cli{t: t, bin: bin, url: cp.url, secret: testSecret}

	// Clusters.
	created := aws.ok("create-cluster", "--cluster-name", "x")
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:cluster/x", dig(created, "cluster", "clusterArn"))
	desc := aws.ok("describe-clusters", "--clusters", "x", "missing")
	assert.Equal(t, "ACTIVE", dig(desc, "clusters", 0, "status"))
	assert.Equal(t, "MISSING", dig(desc, "failures", 0, "reason"))
	aws.ok("create-cluster")
	list := aws.ok("list-clusters")
	assert.ElementsMatch(t, []any{
		"arn:aws:ecs:us-east-1:123456789012:cluster/default",
		"arn:aws:ecs:us-east-1:123456789012:cluster/x",
	}, list["clusterArns"])

	// Container instances.
	reg := aws.ok("register-container-instance",
		"--instance-identity-document", `{"instanceId":"i-0cli","availabilityZone":"us-east-1b"}`,
		"--total-resources", "name=CPU,type=INTEGER,integerValue=2048", "name=MEMORY,type=INTEGER,integerValue=4000",
		"--version-info", "agentVersion=0.1.0,agentHash=abc,dockerVersion=20.10.5",
		"--attributes", "name=ecs.os-type,value=linux",
		"--tags", "key=env,value=test")
	arn := dig(reg, "containerInstance", "containerInstanceArn").(string)
	assert.Regexp(t, `^arn:aws:ecs:us-east-1:123456789012:container-instance/default/[0-9a-f]{32}$`, arn)
	assert.Equal(t, "i-0cli", dig(reg, "containerInstance", "ec2InstanceId"))

	rereg := aws.ok("register-container-instance", "--container-instance-arn", arn,
		"--total-resources", "name=CPU,type=INTEGER,integerValue=4096")
	assert.Equal(t, arn, dig(rereg, "containerInstance", "containerInstanceArn"))
	assert.EqualValues(t, 4096, dig(rereg, "containerInstance", "registeredResources", 0, "integerValue"))

	id := arn[strings.LastIndex(arn, "/")+1:]
	dci := aws.ok("describe-container-instances", "--container-instances", id, "--include", "TAGS")
	assert.Equal(t, "ACTIVE", dig(dci, "containerInstances", 0, "status"))
	assert.Equal(t, false, dig(dci, "containerInstances", 0, "agentConnected"))
	assert.Equal(t, "0.1.0", dig(dci, "containerInstances", 0, "versionInfo", "agentVersion"))
	assert.Equal(t, "env", dig(dci, "containerInstances", 0, "tags", 0, "key"))

	upd := aws.ok("update-container-instances-state", "--container-instances", arn, "--status", "DRAINING")
	assert.Equal(t, "DRAINING", dig(upd, "containerInstances", 0, "status"))
	draining := aws.ok("list-container-instances", "--status", "DRAINING")
	assert.Equal(t, []any{arn}, draining["containerInstanceArns"])

	dpe := aws.ok("discover-poll-endpoint", "--container-instance", arn, "--cluster", "default")
	assert.Equal(t, cp.url, dpe["endpoint"])
	assert.Equal(t, cp.url+"/tcs", dpe["telemetryEndpoint"])

	aws.fails("ClusterContainsContainerInstancesException", nil, "delete-cluster", "--cluster", "default")
	dereg := aws.ok("deregister-container-instance", "--container-instance", arn, "--force")
	assert.Equal(t, "INACTIVE", dig(dereg, "containerInstance", "status"))
	deleted := aws.ok("delete-cluster", "--cluster", "default")
	assert.Equal(t, "INACTIVE", dig(deleted, "cluster", "status"))
	aws.fails("ClusterNotFoundException", nil, "describe-container-instances", "--cluster", "gone", "--container-instances", id)

	// Authentication failures as ECS reports them.
	stderr := aws.fails("MissingAuthenticationTokenException", []string{"--no-sign-request"}, "list-clusters")
	assert.Contains(t, stderr, "Missing Authentication Token")
	wrong := cli{t: t, bin: bin, url: cp.url, secret: "wrong-secret"}
	stderr = wrong.fails("InvalidSignatureException", nil, "list-clusters")
	assert.Contains(t, stderr, "The request signature we calculated does not match the signature you provided.")
}

// TestIntegrationAWSCLITasks runs, describes and stops a task with the aws
// CLI; the agent is its real ACS session (acking payloads) plus
// SubmitTaskStateChange through the SDK.
func TestIntegrationAWSCLITasks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the aws CLI")
	}
	bin := findAWSCLI(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	aws := cli{t: t, bin: bin, url: cp.url, secret: testSecret}
	client := sdkClient(cp.url)
	ctx := context.Background()

	aws.ok("create-cluster")
	reg := aws.ok("register-container-instance",
		"--total-resources", "name=CPU,type=INTEGER,integerValue=1024", "name=MEMORY,type=INTEGER,integerValue=512")
	instance := dig(reg, "containerInstance", "containerInstanceArn").(string)
	agent := connectAgent(t, client, instance, true)

	aws.ok("register-task-definition", "--family", "cli",
		"--container-definitions", `[{"name":"web","image":"ecs-agent-test/busybox:latest","memory":200,"portMappings":[{"containerPort":80,"hostPort":8080}]}]`)
	run := aws.ok("run-task", "--task-definition", "cli", "--count", "3", "--started-by", "cli-test")
	require.Len(t, run["tasks"], 1, "port 8080 fits once: %v", run)
	assert.Equal(t, "RESOURCE:PORTS", dig(run, "failures", 0, "reason"))
	taskARN := dig(run, "tasks", 0, "taskArn").(string)
	assert.Equal(t, "PENDING", dig(run, "tasks", 0, "lastStatus"))
	assert.Equal(t, taskARN, nextPayload(t, agent).Tasks[0].ARN)

	_, err := client.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Task: sdkaws.String(taskARN), Status: sdkaws.String("RUNNING"),
		Containers: []types.ContainerStateChange{{ContainerName: sdkaws.String("web"), Status: sdkaws.String("RUNNING"),
			RuntimeId: sdkaws.String("c0ffee"),
			NetworkBindings: []types.NetworkBinding{{BindIP: sdkaws.String("0.0.0.0"), ContainerPort: sdkaws.Int32(80),
				HostPort: sdkaws.Int32(8080), Protocol: types.TransportProtocolTcp}}}},
	})
	require.NoError(t, err)
	desc := aws.ok("describe-tasks", "--tasks", taskARN)
	assert.Equal(t, "RUNNING", dig(desc, "tasks", 0, "lastStatus"))
	assert.Equal(t, "c0ffee", dig(desc, "tasks", 0, "containers", 0, "runtimeId"))
	assert.EqualValues(t, 8080, dig(desc, "tasks", 0, "containers", 0, "networkBindings", 0, "hostPort"))
	assert.NotNil(t, dig(desc, "tasks", 0, "startedAt"))
	list := aws.ok("list-tasks", "--started-by", "cli-test")
	assert.Equal(t, []any{taskARN}, list["taskArns"])
	dci := aws.ok("describe-container-instances", "--container-instances", instance)
	assert.EqualValues(t, 1, dig(dci, "containerInstances", 0, "runningTasksCount"))
	assert.EqualValues(t, 312, dig(dci, "containerInstances", 0, "remainingResources", 1, "integerValue"))

	stopped := aws.ok("stop-task", "--task", taskARN, "--reason", "cli says stop")
	assert.Equal(t, "STOPPED", dig(stopped, "task", "desiredStatus"))
	var p *wire.PayloadMessage
	for p == nil || p.Tasks[0].DesiredStatus != "STOPPED" {
		p = nextPayload(t, agent)
	}
	_, err = client.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Task: sdkaws.String(taskARN), Status: sdkaws.String("STOPPED"),
		Containers: []types.ContainerStateChange{{ContainerName: sdkaws.String("web"), Status: sdkaws.String("STOPPED"), ExitCode: sdkaws.Int32(0)}},
	})
	require.NoError(t, err)
	desc = aws.ok("describe-tasks", "--tasks", taskARN)
	assert.Equal(t, "STOPPED", dig(desc, "tasks", 0, "lastStatus"))
	assert.Equal(t, "cli says stop", dig(desc, "tasks", 0, "stoppedReason"))
	assert.Equal(t, "UserInitiated", dig(desc, "tasks", 0, "stopCode"))
	assert.EqualValues(t, 0, dig(desc, "tasks", 0, "containers", 0, "exitCode"))
	list = aws.ok("list-tasks", "--desired-status", "STOPPED")
	assert.Equal(t, []any{taskARN}, list["taskArns"])
	dci = aws.ok("describe-container-instances", "--container-instances", instance)
	assert.EqualValues(t, 512, dig(dci, "containerInstances", 0, "remainingResources", 1, "integerValue"))
	aws.fails("ClientException", nil, "run-task", "--task-definition", "nope")
}
