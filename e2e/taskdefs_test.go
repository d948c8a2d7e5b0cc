package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// testImage is the local FROM-scratch busybox image dev-setup builds.
const testImage = "ecs-agent-test/busybox:latest"

// Task timeouts: starting a busybox container takes well under a second;
// the margins cover a loaded CI machine.
const (
	taskStartTimeout = 60 * time.Second
	taskStopTimeout  = 60 * time.Second
)

// ecsTask is the part of DescribeTasks' Task the tests read.
type ecsTask struct {
	TaskArn              string         `json:"taskArn"`
	TaskDefinitionArn    string         `json:"taskDefinitionArn"`
	ContainerInstanceArn string         `json:"containerInstanceArn"`
	LastStatus           string         `json:"lastStatus"`
	DesiredStatus        string         `json:"desiredStatus"`
	StoppedReason        string         `json:"stoppedReason"`
	StopCode             string         `json:"stopCode"`
	Containers           []ecsContainer `json:"containers"`
}

type ecsContainer struct {
	Name            string           `json:"name"`
	LastStatus      string           `json:"lastStatus"`
	ExitCode        *int             `json:"exitCode"`
	Reason          string           `json:"reason"`
	RuntimeID       string           `json:"runtimeId"`
	HealthStatus    string           `json:"healthStatus"`
	NetworkBindings []networkBinding `json:"networkBindings"`
}

type networkBinding struct {
	BindIP        string `json:"bindIP"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

type ecsFailure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// container returns the task's container with the given name.
func (task ecsTask) container(t testing.TB, name string) ecsContainer {
	t.Helper()
	for _, c := range task.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("task %s has no container %q: %+v", task.TaskArn, name, task.Containers)
	return ecsContainer{}
}

func (task ecsTask) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s last=%s desired=%s stoppedReason=%q", task.TaskArn, task.LastStatus, task.DesiredStatus, task.StoppedReason)
	for _, c := range task.Containers {
		code := "nil"
		if c.ExitCode != nil {
			code = fmt.Sprint(*c.ExitCode)
		}
		fmt.Fprintf(&b, "\n  %s last=%s exit=%s reason=%q id=%.12s ports=%+v", c.Name, c.LastStatus, code, c.Reason, c.RuntimeID, c.NetworkBindings)
	}
	return b.String()
}

// taskCluster is a control plane with one cluster and one connected agent,
// the setting of every task test.
type taskCluster struct {
	cp      *controlPlane
	name    string
	agent   *agent
	defsDir string
	// api polls the control plane while waiting: an SDK call costs
	// microseconds of CPU where the aws CLI costs most of a second. What the
	// tests assert on still comes from the aws CLI.
	api *ecs.Client
}

// startTaskCluster starts a control plane, creates a cluster named after the
// test and starts an agent in it with extraEnv; it returns once the agent is
// connected. Containers labelled with the cluster are removed at cleanup,
// after the agent has been stopped.
func startTaskCluster(t testing.TB, extraEnv ...string) *taskCluster {
	t.Helper()
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	tc := &taskCluster{cp: startControlPlane(t), name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(tc.cp)
	tc.cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })
	tc.agent = newAgent(t, tc.cp, tc.name, extraEnv...)
	tc.startAgent(t)
	return tc
}

// startAgent (re)starts the agent and waits until it is connected.
func (tc *taskCluster) startAgent(t testing.TB) {
	t.Helper()
	tc.agent.start(t)
	md := tc.agent.awaitMetadata(t)
	tc.cp.awaitInstance(t, tc.name, "the agent to connect", func(ci containerInstance) bool {
		return ci.AgentConnected && ci.ContainerInstanceArn == md.ContainerInstanceArn
	})
}

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// uniqueName is a cluster (or family, or repository) name unique to this run
// of the test: tests share the Docker host with other runs.
func uniqueName(t testing.TB) string {
	base := strings.ToLower(unsafeNameChars.ReplaceAllString(strings.TrimPrefix(t.Name(), "TestE2E"), "-"))
	if len(base) > 40 {
		base = base[:40]
	}
	return fmt.Sprintf("%s-%x", strings.Trim(base, "-"), time.Now().UnixNano()&0xffffff)
}

// register writes def as a file and registers it with
// `aws ecs register-task-definition --cli-input-json file://...`, as a user
// would; it returns the task definition's ARN.
func (tc *taskCluster) register(t testing.TB, def map[string]any) string {
	t.Helper()
	data, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tc.defsDir, fmt.Sprintf("%v-%d.json", def["family"], time.Now().UnixNano()))
	writeFile(t, path, string(data))
	var out struct {
		TaskDefinition struct {
			TaskDefinitionArn string `json:"taskDefinitionArn"`
		} `json:"taskDefinition"`
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)
	if out.TaskDefinition.TaskDefinitionArn == "" {
		t.Fatalf("register-task-definition returned no taskDefinitionArn for\n%s", data)
	}
	return out.TaskDefinition.TaskDefinitionArn
}

// runTask runs count copies of taskDef and returns the tasks and failures.
func (tc *taskCluster) runTask(t testing.TB, taskDef string, count int) ([]ecsTask, []ecsFailure) {
	t.Helper()
	var out struct {
		Tasks    []ecsTask    `json:"tasks"`
		Failures []ecsFailure `json:"failures"`
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "run-task", "--cluster", tc.name,
		"--task-definition", taskDef, "--count", fmt.Sprint(count))
	return out.Tasks, out.Failures
}

// runOne runs one task of taskDef, failing the test on any failure.
func (tc *taskCluster) runOne(t testing.TB, taskDef string) string {
	t.Helper()
	tasks, failures := tc.runTask(t, taskDef, 1)
	if len(failures) > 0 || len(tasks) != 1 {
		t.Fatalf("run-task %s: tasks %v, failures %+v; want one task", taskDef, tasks, failures)
	}
	return tasks[0].TaskArn
}

func (tc *taskCluster) describe(t testing.TB, arns ...string) []ecsTask {
	t.Helper()
	var out struct {
		Tasks    []ecsTask    `json:"tasks"`
		Failures []ecsFailure `json:"failures"`
	}
	args := append([]string{"ecs", "describe-tasks", "--cluster", tc.name, "--tasks"}, arns...)
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, args...)
	if len(out.Failures) > 0 {
		t.Fatalf("describe-tasks: failures %+v", out.Failures)
	}
	return out.Tasks
}

// awaitTask polls DescribeTasks until cond holds for the task, then returns
// the task as describe-tasks in the aws CLI shows it (polling again if that
// view does not satisfy cond yet). It fails early when the agent exits.
func (tc *taskCluster) awaitTask(t testing.TB, arn, what string, timeout time.Duration, cond func(ecsTask) bool) ecsTask {
	t.Helper()
	var last ecsTask
	deadline := time.Now().Add(timeout)
	for {
		if task, ok := tc.describeSDK(t, arn); ok {
			last = task
			if cond(task) {
				if viaCLI := tc.describe(t, arn); len(viaCLI) == 1 && cond(viaCLI[0]) {
					return viaCLI[0]
				}
			}
		}
		if tc.agent.proc.exited() {
			t.Fatalf("the agent exited (%v) while waiting for %s; task: %s", tc.agent.proc.err, what, last)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; task: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// describeSDK describes one task through the SDK, converted to the CLI's shape.
func (tc *taskCluster) describeSDK(t testing.TB, arn string) (ecsTask, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := tc.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(tc.name), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		return ecsTask{}, false
	}
	x := out.Tasks[0]
	task := ecsTask{
		TaskArn: aws.ToString(x.TaskArn), TaskDefinitionArn: aws.ToString(x.TaskDefinitionArn),
		ContainerInstanceArn: aws.ToString(x.ContainerInstanceArn), LastStatus: aws.ToString(x.LastStatus),
		DesiredStatus: aws.ToString(x.DesiredStatus), StoppedReason: aws.ToString(x.StoppedReason), StopCode: string(x.StopCode),
	}
	for _, c := range x.Containers {
		ec := ecsContainer{Name: aws.ToString(c.Name), LastStatus: aws.ToString(c.LastStatus), Reason: aws.ToString(c.Reason),
			RuntimeID: aws.ToString(c.RuntimeId), HealthStatus: string(c.HealthStatus)}
		if c.ExitCode != nil {
			code := int(*c.ExitCode)
			ec.ExitCode = &code
		}
		for _, nb := range c.NetworkBindings {
			ec.NetworkBindings = append(ec.NetworkBindings, networkBinding{BindIP: aws.ToString(nb.BindIP),
				ContainerPort: int(aws.ToInt32(nb.ContainerPort)), HostPort: int(aws.ToInt32(nb.HostPort)), Protocol: string(nb.Protocol)})
		}
		task.Containers = append(task.Containers, ec)
	}
	return task, true
}

// newECSAPI is an SDK client for the control plane with the test credentials.
func newECSAPI(cp *controlPlane) *ecs.Client {
	o := ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(cp.endpoint),
		Credentials:  awscreds.NewStaticCredentialsProvider(testCreds.accessKey, testCreds.secretKey, ""),
	}
	if cp.tls != nil {
		o.HTTPClient = cp.tls.client()
	}
	return ecs.New(o)
}

func (tc *taskCluster) awaitStatus(t testing.TB, arn, status string) ecsTask {
	t.Helper()
	timeout := taskStartTimeout
	if status == "STOPPED" {
		timeout = taskStopTimeout
	}
	return tc.awaitTask(t, arn, "the task to be "+status, timeout, func(task ecsTask) bool { return task.LastStatus == status })
}

func (tc *taskCluster) stopTask(t testing.TB, arn, reason string) {
	t.Helper()
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), nil, "ecs", "stop-task", "--cluster", tc.name, "--task", arn, "--reason", reason)
}

// introspectionTask is the part of the introspection API's TaskResponse the tests read.
type introspectionTask struct {
	Arn           string `json:"Arn"`
	DesiredStatus string `json:"DesiredStatus"`
	KnownStatus   string `json:"KnownStatus"`
	Family        string `json:"Family"`
	Version       string `json:"Version"`
	Containers    []struct {
		DockerID   string `json:"DockerId"`
		DockerName string `json:"DockerName"`
		Name       string `json:"Name"`
		Image      string `json:"Image"`
		Ports      []struct {
			ContainerPort int    `json:"ContainerPort"`
			Protocol      string `json:"Protocol"`
			HostPort      int    `json:"HostPort"`
		} `json:"Ports"`
	} `json:"Containers"`
}

// introspect GETs path from the agent's introspection API and decodes it
// into out; it returns the HTTP status.
func (a *agent) introspect(t testing.TB, path string, out any) int {
	t.Helper()
	resp, err := http.Get("http://" + a.introspection + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decoding: %v", path, err)
		}
	}
	return resp.StatusCode
}

// dockerState is the part of docker inspect the tests read.
type dockerState struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Status     string    `json:"Status"`
		Running    bool      `json:"Running"`
		ExitCode   int       `json:"ExitCode"`
		OOMKilled  bool      `json:"OOMKilled"`
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
	} `json:"State"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// inspectContainer returns docker inspect of id; ok is false when Docker has no such container.
func inspectContainer(t testing.TB, id string) (dockerState, bool) {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--type", "container", id).Output()
	if err != nil {
		return dockerState{}, false
	}
	var list []dockerState
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 {
		t.Fatalf("docker inspect %s: %v %s", id, err, out)
	}
	return list[0], true
}

// containersWithLabel lists the IDs of all containers (running or not) with label key=value.
func containersWithLabel(t testing.TB, key, value string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "label="+key+"="+value).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// removeClusterContainers removes every container the agent created for cluster.
func removeClusterContainers(t testing.TB, cluster string) {
	t.Helper()
	ids := containersWithLabel(t, "com.amazonaws.ecs.cluster", cluster)
	if len(ids) == 0 {
		return
	}
	if out, err := exec.Command("docker", append([]string{"rm", "-f", "-v"}, ids...)...).CombinedOutput(); err != nil {
		t.Logf("removing the containers of cluster %s: %v\n%s", cluster, err, out)
	}
}

// requireImage fails (CI) or skips when a local image dev-setup provides is missing.
func requireImage(t testing.TB, image string) {
	t.Helper()
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		msg := fmt.Sprintf("image %s is missing: run make dev-setup", image)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// containerDef is a container definition with the fields every test sets.
func containerDef(name string, essential bool, command string) map[string]any {
	return map[string]any{
		"name":       name,
		"image":      testImage,
		"essential":  essential,
		"memory":     32,
		"cpu":        16,
		"entryPoint": []string{"sh", "-c"},
		"command":    []string{command},
	}
}

func taskDef(family string, containers ...map[string]any) map[string]any {
	return map[string]any{"family": family, "networkMode": "bridge", "containerDefinitions": containers}
}

// sleeper is a command that runs until stopped and exits 0 on SIGTERM at
// once (sh as PID 1 would otherwise ignore SIGTERM and wait for SIGKILL).
const sleeper = `trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done`

func exitCode(c ecsContainer) string {
	if c.ExitCode == nil {
		return "nil"
	}
	return fmt.Sprint(*c.ExitCode)
}

// dockerCmd runs the docker CLI and returns its error with its output.
func dockerCmd(args ...string) error {
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
