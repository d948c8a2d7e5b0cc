package controlplane

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

// A stopped task is pruned once its retention has passed: DescribeTasks
// then reports it MISSING, as ECS does, and ListTasks no longer lists it.
// A running task stays.
func TestStoppedTasksArePruned(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	const retention = 300 * time.Millisecond
	cp := start(t, t.TempDir(), func(o *Options) { o.StoppedTaskRetention = retention })
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerWithResources(t, client)
	connectAgent(t, client, arn, true)
	_, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("sleep"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
	})
	require.NoError(t, err)
	var arns []string
	waitFor(t, "the agent's session, so that tasks can be placed", func() bool {
		run, err := client.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("sleep"), Count: aws.Int32(2)})
		require.NoError(t, err)
		for _, task := range run.Tasks {
			arns = append(arns, aws.ToString(task.TaskArn))
		}
		return len(arns) == 2
	})
	stopped, running := arns[0], arns[1]
	reported := time.Now() // the control plane stamps the stop after this
	_, err = client.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Task: aws.String(stopped), Status: aws.String("STOPPED"),
		Containers: []types.ContainerStateChange{{ContainerName: aws.String("main"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(0)}},
	})
	require.NoError(t, err)

	describe := func() *ecs.DescribeTasksOutput {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{stopped, running}})
		require.NoError(t, err)
		return out
	}
	waitFor(t, "the stopped task to be pruned", func() bool { return len(describe().Failures) == 1 })
	assert.GreaterOrEqual(t, time.Since(reported), retention, "kept for its retention")
	out := describe()
	require.Len(t, out.Tasks, 1)
	assert.Equal(t, running, aws.ToString(out.Tasks[0].TaskArn))
	assert.Equal(t, stopped, aws.ToString(out.Failures[0].Arn))
	assert.Equal(t, "MISSING", aws.ToString(out.Failures[0].Reason))
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped})
	require.NoError(t, err)
	assert.Empty(t, list.TaskArns)
}

func TestNegativeRetentionIsRefused(t *testing.T) {
	_, err := New(Options{DataDir: filepath.Join(t.TempDir(), "data"), StoppedTaskRetention: -time.Second,
		Credentials: authz.Keyring{testKey: {SecretAccessKey: testSecret}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stopped task retention")
}
