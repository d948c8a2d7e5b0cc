package controlplane

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// registerWithResources registers an instance with 2048 CPU and 2048 MiB in
// the default cluster and returns its ARN.
func registerWithResources(t *testing.T, client *ecs.Client) string {
	t.Helper()
	ctx := context.Background()
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{})
	require.NoError(t, err)
	reg, err := client.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22"}},
		},
	})
	require.NoError(t, err)
	return aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
}

// fakeAgent is the agent's real ACS session, acking payloads while ack is set.
type fakeAgent struct {
	payloads chan *wire.PayloadMessage
	ack      atomic.Bool
}

func connectAgent(t *testing.T, client *ecs.Client, arn string, ack bool) *fakeAgent {
	t.Helper()
	a := &fakeAgent{payloads: make(chan *wire.PayloadMessage, 64)}
	a.ack.Store(ack)
	var sess *acs.Session
	sess = acs.NewSession(acs.Options{
		DiscoverEndpoint: func(ctx context.Context) (string, error) {
			out, err := client.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{ContainerInstance: aws.String(arn)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.Endpoint), nil
		},
		Cluster:              "default",
		ContainerInstanceARN: arn,
		AgentVersion:         "0.1.0",
		DockerVersion:        "20.10.24",
		Region:               "us-east-1",
		Credentials:          credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Handler: func(ctx context.Context, msg any) {
			p, ok := msg.(*wire.PayloadMessage)
			if !ok {
				return
			}
			if a.ack.Load() {
				assert.NoError(t, sess.Send(ctx, &wire.AckRequest{
					Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID}))
			}
			a.payloads <- p
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	waitFor(t, "agentConnected=true", func() bool { return agentConnected(t, client, arn) })
	return a
}

func nextPayload(t *testing.T, a *fakeAgent) *wire.PayloadMessage {
	t.Helper()
	select {
	case p := <-a.payloads:
		return p
	case <-time.After(15 * time.Second):
		t.Fatal("no PayloadMessage reached the agent")
		return nil
	}
}

func storedTask(t *testing.T, cp *running, arn string) store.Task {
	t.Helper()
	var found store.Task
	require.NoError(t, cp.srv.store.View(func(tx store.Tx) error {
		tasks, err := tx.Tasks("")
		for _, task := range tasks {
			if task.ARN == arn {
				found = task
			}
		}
		return err
	}))
	require.Equal(t, arn, found.ARN)
	return found
}

// TestRunTaskReachesTheAgent goes through the wiring: RunTask → PayloadMessage
// on the agent's ACS session, redelivered until acked; StopTask → STOPPED
// delivered; the agent's state change → DescribeTasks.
func TestRunTaskReachesTheAgent(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), func(o *Options) { o.RedeliverInterval = 50 * time.Millisecond })
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerWithResources(t, client)
	agent := connectAgent(t, client, arn, false)

	_, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("sleep"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String("ecs-agent-test/busybox:latest"),
			Memory: aws.Int32(64), Command: []string{"sleep", "60"},
		}},
	})
	require.NoError(t, err)
	run, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sleep")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1, "failures: %v", run.Failures)
	taskARN := aws.ToString(run.Tasks[0].TaskArn)

	p := nextPayload(t, agent)
	require.Len(t, p.Tasks, 1)
	assert.Equal(t, taskARN, p.Tasks[0].ARN)
	assert.Equal(t, "RUNNING", p.Tasks[0].DesiredStatus)
	assert.Equal(t, arn, p.ContainerInstanceARN)
	assert.Equal(t, "sleep", p.Tasks[0].Family)
	assert.Equal(t, []string{"sleep", "60"}, p.Tasks[0].Containers[0].Command)

	again := nextPayload(t, agent) // not acked: sent again
	assert.Equal(t, taskARN, again.Tasks[0].ARN)
	agent.ack.Store(true)
	waitFor(t, "delivery acknowledged", func() bool {
		return storedTask(t, cp, taskARN).Delivery.AckedDesiredStatus == "RUNNING"
	})

	_, err = client.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(taskARN), Reason: aws.String("enough")})
	require.NoError(t, err)
	var stop *wire.PayloadMessage
	for stop == nil || stop.Tasks[0].DesiredStatus != "STOPPED" {
		stop = nextPayload(t, agent)
	}
	assert.Equal(t, taskARN, stop.Tasks[0].ARN)
	waitFor(t, "STOPPED acknowledged", func() bool {
		return storedTask(t, cp, taskARN).Delivery.AckedDesiredStatus == "STOPPED"
	})

	_, err = client.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Task: aws.String(taskARN), Status: aws.String("STOPPED"),
		Containers: []types.ContainerStateChange{{ContainerName: aws.String("main"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(143)}},
	})
	require.NoError(t, err)
	d, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{taskARN}})
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", aws.ToString(d.Tasks[0].LastStatus))
	assert.Equal(t, "enough", aws.ToString(d.Tasks[0].StoppedReason))
	assert.EqualValues(t, 143, aws.ToInt32(d.Tasks[0].Containers[0].ExitCode))
}

// TestUndeliveredTaskSurvivesRestart: a task the agent never acked is
// delivered by the restarted control plane when the agent connects.
func TestUndeliveredTaskSurvivesRestart(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	cp := start(t, dir, nil)
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerWithResources(t, client)
	connectAgent(t, client, arn, false) // connected, never acks
	_, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("keep"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
	})
	require.NoError(t, err)
	run, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("keep")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	cp.stop()

	cp2 := start(t, dir, nil)
	client2 := sdkClient(cp2.url)
	agent := connectAgent(t, client2, arn, true)
	p := nextPayload(t, agent)
	assert.Equal(t, aws.ToString(run.Tasks[0].TaskArn), p.Tasks[0].ARN)
	waitFor(t, "delivery acknowledged", func() bool {
		return storedTask(t, cp2, aws.ToString(run.Tasks[0].TaskArn)).Delivery.AckedDesiredStatus == "RUNNING"
	})
}
