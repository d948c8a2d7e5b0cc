package controlplane

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/tcs"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// fakeAgentState is what the agent's TCS session publishes: one task's
// metrics and its containers' health.
type fakeAgentState struct {
	mu         sync.Mutex
	taskARN    string
	cpuPercent float64
	webHealth  string
}

func (f *fakeAgentState) TaskMetrics() []wire.TaskMetric {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := func(v float64) *wire.CWStatsSet { return &wire.CWStatsSet{Min: v, Max: v, Sum: 4 * v, SampleCount: 4} }
	return []wire.TaskMetric{{TaskARN: f.taskARN, ContainerMetrics: []wire.ContainerMetric{
		{ContainerName: "web", CPUStatsSet: set(f.cpuPercent), MemoryStatsSet: set(48),
			NetworkStatsSet: &wire.NetworkStatsSet{RxBytes: &wire.ULongStatsSet{Sum: 300, SampleCount: 4}, TxBytes: &wire.ULongStatsSet{Sum: 100, SampleCount: 4}}},
	}}}
}

func (f *fakeAgentState) Snapshot() []engine.TaskSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []engine.TaskSnapshot{{ARN: f.taskARN, Family: "checked", Version: "1", KnownStatus: "RUNNING", Containers: []engine.ContainerSnapshot{
		{Name: "web", KnownStatus: "RUNNING", Health: f.webHealth},
	}}}
}

// runCheckedTask registers an instance able to run health checks, marks its
// agent connected and runs a task of one checked essential container.
func runCheckedTask(t *testing.T, cp *running, client *ecs.Client) (instance, task string) {
	t.Helper()
	ctx := context.Background()
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{})
	require.NoError(t, err)
	reg, err := client.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 2000},
		},
		Attributes: []types.Attribute{
			{Name: aws.String("ecs.capability.container-health-check")},
			{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.24")},
		},
	})
	require.NoError(t, err)
	instance = aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, registry{cp.srv.api}.SetAgentConnected(ctx, instance, true))
	_, err = client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("checked"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("busybox"), Cpu: 512,
			Memory: aws.Int32(500), HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}}}}})
	require.NoError(t, err)
	run, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("checked")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	return instance, aws.ToString(run.Tasks[0].TaskArn)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

// TestAgentTCSSessionPublishes runs the agent's own TCS client against the
// control plane: its signed frames are accepted, and what it publishes
// shows in /metrics, DescribeTasks and DescribeContainerInstances.
func TestAgentTCSSessionPublishes(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	client := sdkClient(cp.url)
	ctx := context.Background()
	instance, taskARN := runCheckedTask(t, cp, client)
	taskID := taskARN[strings.LastIndex(taskARN, "/")+1:]
	agent := &fakeAgentState{taskARN: taskARN, cpuPercent: 80, webHealth: "UNHEALTHY"}

	sess := tcs.NewSession(tcs.Options{
		DiscoverEndpoint: func(ctx context.Context) (string, error) {
			out, err := client.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{ContainerInstance: aws.String(instance)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.TelemetryEndpoint), nil
		},
		Cluster: "default", ContainerInstanceARN: instance,
		AgentVersion: "0.1.0", AgentHash: "abc", DockerVersion: "20.10.24", Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Metrics:     agent, Tasks: agent,
		Checks: []tcs.Check{
			{Type: tcs.StatusTypeContainerRuntime, Probe: func(context.Context) error { return nil }},
			{Type: tcs.StatusTypeAgent, Probe: func(context.Context) error { return nil }},
		},
		PublishInterval: 100 * time.Millisecond,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sess.Run(runCtx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	labels := `{cluster="default",container="web",family="checked",revision="1",task_id="` + taskID + `"}`
	var body string
	waitFor(t, "the container's metrics", func() bool {
		body = scrape(t, cp.url+"/metrics")
		return strings.Contains(body, "ecs_container_cpu_utilization_percent"+labels+" 80")
	})
	assert.Contains(t, body, "ecs_container_memory_utilized_bytes"+labels+" 5.0331648e+07")
	assert.Contains(t, body, "ecs_container_healthy"+labels+" 0")
	assert.Contains(t, body, `ecs_controlplane_sessions{protocol="tcs"} 1`)
	assert.Contains(t, body, `ecs_cluster_cpu_reservation_percent{cluster="default"} 25`)
	assert.Contains(t, body, `ecs_cluster_cpu_utilization_percent{cluster="default"} 40`, "80 % of one CPU is 819.2 of 2048 units")
	assert.Contains(t, body, `ecs_controlplane_api_requests_total{code="200",operation="RunTask"} 1`)
	assert.Contains(t, body, `ecs_controlplane_tcs_frames_total{result="refused"} 0`)

	describeTask := func() types.Task {
		d, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{taskARN}})
		require.NoError(t, err)
		return d.Tasks[0]
	}
	waitFor(t, "the task's health", func() bool { return describeTask().HealthStatus == types.HealthStatusUnhealthy })
	assert.Equal(t, types.HealthStatusUnhealthy, describeTask().Containers[0].HealthStatus)
	agent.mu.Lock()
	agent.webHealth = "HEALTHY"
	agent.mu.Unlock()
	waitFor(t, "the task healthy", func() bool { return describeTask().HealthStatus == types.HealthStatusHealthy })

	d, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{instance},
		Include: []types.ContainerInstanceField{types.ContainerInstanceFieldContainerInstanceHealth}})
	require.NoError(t, err)
	h := d.ContainerInstances[0].HealthStatus
	require.NotNil(t, h)
	assert.Equal(t, types.InstanceHealthCheckStateOk, h.OverallStatus)
	require.Len(t, h.Details, 2)
	assert.Equal(t, types.InstanceHealthCheckTypeContainerRuntime, h.Details[1].Type)

	// Deregistering the instance closes its TCS session and forgets its telemetry.
	_, err = client.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(instance), Force: aws.Bool(true)})
	require.NoError(t, err)
	waitFor(t, "the telemetry forgotten", func() bool {
		return !strings.Contains(scrape(t, cp.url+"/metrics"), "ecs_container_cpu_utilization_percent"+labels)
	})
	waitFor(t, "the TCS session closed", func() bool { return cp.srv.tcs.Sessions() == 0 })
}

func TestMetricsListenMovesTheExposition(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cp := start(t, t.TempDir(), func(o *Options) { o.MetricsListen = addr })

	waitFor(t, "the metrics listener", func() bool { // Serve opens it
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil
	})
	assert.Contains(t, scrape(t, "http://"+addr+"/metrics"), `ecs_controlplane_sessions{protocol="acs"} 0`)
	resp, err := http.Get(cp.url + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the main listener serves only the API there: %s", body)

	_, err = New(Options{DataDir: t.TempDir(), MetricsListen: "nonsense"})
	assert.ErrorContains(t, err, `metrics listen address "nonsense": want host:port`)
}

func TestTCSRegistryTasks(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	instance, taskARN := runCheckedTask(t, cp, sdkClient(cp.url))
	reg := tcsRegistry{api: cp.srv.api, store: cp.srv.store}
	otherRegion := strings.Replace(taskARN, "us-east-1", "eu-west-1", 1)
	got, err := reg.Tasks(context.Background(), []string{taskARN, otherRegion, "garbage", taskARN + "0",
		"arn:aws:ecs:us-east-1:123456789012:task//x"})
	require.NoError(t, err)
	require.Len(t, got, 1, "only the stored task, by its exact ARN")
	task := got[taskARN]
	assert.Equal(t, instance, task.Instance)
	assert.Equal(t, "default", task.Cluster)
	assert.Equal(t, "checked", task.Family)
	assert.Equal(t, 1, task.Revision)
	assert.Equal(t, []string{"web"}, task.Containers)
	assert.False(t, task.Stopped)
}
