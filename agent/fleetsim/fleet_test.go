package fleetsim_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/agent/fleetsim"
	"github.com/open-ecs/ecs-agent/controlplane"
	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

const (
	testKey    = "AKIDFLEETSIM"
	testSecret = "fleetsim-secret"
	testImage  = "busybox:latest"
)

var testCreds = credentials.NewStaticCredentialsProvider(testKey, testSecret, "")

// startControlPlane runs the real control plane in-process on a loopback
// port and returns its URL.
func startControlPlane(t *testing.T) string {
	t.Helper()
	srv, err := controlplane.New(controlplane.Options{
		DataDir:     t.TempDir(),
		Region:      "us-east-1",
		AccountID:   "123456789012",
		Credentials: authz.Keyring{testKey: {SecretAccessKey: testSecret}},
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, srv.Close())
	})
	return "http://" + ln.Addr().String()
}

func apiClient(url string) *ecs.Client {
	return ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: testCreds})
}

// TestFleetRegistersAndRunsTasks starts five simulated instances against
// the real control plane: each registers with its own EC2 instance ID and
// state directory and connects over ACS; ten tasks started with RunTask
// reach RUNNING, reported by the agents, and run on the instances' runtimes.
func TestFleetRegistersAndRunsTasks(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // the SDK must never look for a real instance role
	url := startControlPlane(t)
	api := apiClient(url)
	ctx := t.Context()
	_, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("fleet")})
	require.NoError(t, err)

	const size = 5
	fleet, err := fleetsim.Start(ctx, fleetsim.Options{
		Endpoint: url, Region: "us-east-1", Cluster: "fleet", Credentials: testCreds,
		Size: size, DataDir: t.TempDir(), Images: []string{testImage},
		Parallel: 2, // instances start two at a time
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, fleet.Close()) })

	ids, arns, dirs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, inst := range fleet.Instances() {
		ids[inst.ID], arns[inst.ARN()], dirs[inst.DataDir] = true, true, true
		_, err := os.Stat(filepath.Join(inst.DataDir, "agent.db"))
		assert.NoError(t, err, "instance %s keeps its state in its own directory", inst.ID)
	}
	assert.Len(t, ids, size)
	assert.Len(t, arns, size)
	assert.Len(t, dirs, size)

	waitUntil(t, "every instance's ACS session", func() bool { return connected(t, api) == size })

	def, err := api.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("sleeper"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String(testImage),
			Cpu: 2, Memory: aws.Int32(16), Essential: aws.Bool(true)}},
	})
	require.NoError(t, err)
	run, err := api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("fleet"),
		TaskDefinition: def.TaskDefinition.TaskDefinitionArn, Count: aws.Int32(10)})
	require.NoError(t, err)
	require.Empty(t, run.Failures)
	require.Len(t, run.Tasks, 10)
	var tasks []string
	for _, task := range run.Tasks {
		tasks = append(tasks, aws.ToString(task.TaskArn))
	}

	waitUntil(t, "every task RUNNING", func() bool { return allStatus(t, api, tasks, "RUNNING") })
	assert.Equal(t, 10, fleet.RunningContainers())

	_, err = api.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("fleet"), Task: aws.String(tasks[0])})
	require.NoError(t, err)
	waitUntil(t, "the stopped task STOPPED", func() bool { return allStatus(t, api, tasks[:1], "STOPPED") })
	assert.Equal(t, 9, fleet.RunningContainers())
}

// waitUntil polls cond in the test's goroutine (cond may fail the test)
// until it holds, for at most 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// allStatus says whether every task of arns has lastStatus status.
func allStatus(t *testing.T, api *ecs.Client, arns []string, status string) bool {
	t.Helper()
	out, err := api.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("fleet"), Tasks: arns})
	require.NoError(t, err)
	for _, task := range out.Tasks {
		if aws.ToString(task.LastStatus) != status {
			return false
		}
	}
	return len(out.Tasks) == len(arns)
}

// connected counts the cluster's instances with agentConnected.
func connected(t *testing.T, api *ecs.Client) int {
	t.Helper()
	ctx := t.Context()
	list, err := api.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("fleet")})
	require.NoError(t, err)
	if len(list.ContainerInstanceArns) == 0 {
		return 0
	}
	out, err := api.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("fleet"), ContainerInstances: list.ContainerInstanceArns})
	require.NoError(t, err)
	n := 0
	for _, ci := range out.ContainerInstances {
		if ci.AgentConnected {
			n++
		}
	}
	return n
}

func TestStartRejectsBadOptions(t *testing.T) {
	good := fleetsim.Options{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Cluster: "c",
		Credentials: testCreds, Size: 1, DataDir: t.TempDir()}
	for field, mutate := range map[string]func(*fleetsim.Options){
		"Endpoint":    func(o *fleetsim.Options) { o.Endpoint = "" },
		"Region":      func(o *fleetsim.Options) { o.Region = "" },
		"Cluster":     func(o *fleetsim.Options) { o.Cluster = "" },
		"Credentials": func(o *fleetsim.Options) { o.Credentials = nil },
		"Size":        func(o *fleetsim.Options) { o.Size = 0 },
		"DataDir":     func(o *fleetsim.Options) { o.DataDir = "" },
		"Parallel":    func(o *fleetsim.Options) { o.Parallel = -1 },
	} {
		o := good
		mutate(&o)
		_, err := fleetsim.Start(t.Context(), o)
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), "Options."+field)
	}
}

// TestStartGivesUpAndStopsEveryInstance: with no control plane to register
// with, Start returns after StartTimeout with an error saying how many
// instances were not ready, and stops all of them, including those still
// waiting for their turn to start.
func TestStartGivesUpAndStopsEveryInstance(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	_, err = fleetsim.Start(t.Context(), fleetsim.Options{
		Endpoint: url, Region: "us-east-1", Cluster: "fleet", Credentials: testCreds,
		Size: 3, DataDir: t.TempDir(), Parallel: 1, StartTimeout: 200 * time.Millisecond,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3 of 3 instances not ready after 200ms")
}
