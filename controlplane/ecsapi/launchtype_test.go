package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
)

// TestLaunchTypeSeparatesExternalInstances: as in ECS, an EXTERNAL task
// runs only on an instance registered as external (ECS Anywhere), and an
// EC2 task, the default, never does.
func TestLaunchTypeSeparatesExternalInstances(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec2ARN := connectedInstance(t, f, "mixed", "i-ec2")
	in := sdkRegisterInput("mixed")
	in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(scheduler.AttrExternal)})
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	extARN := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, extARN, true))
	small := appDef("small", 0)
	small.ContainerDefinitions[0].Memory = aws.Int32(64)
	_, err = f.ecs.RegisterTaskDefinition(ctx, small)
	require.NoError(t, err)

	for _, c := range []struct {
		launchType types.LaunchType
		want       string
	}{{"", ec2ARN}, {types.LaunchTypeEc2, ec2ARN}, {types.LaunchTypeExternal, extARN}} {
		run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("mixed"), TaskDefinition: aws.String("small"),
			Count: aws.Int32(2), LaunchType: c.launchType})
		require.NoError(t, err)
		require.Len(t, run.Tasks, 2, "launch type %q", c.launchType)
		for _, task := range run.Tasks {
			assert.Equal(t, c.want, aws.ToString(task.ContainerInstanceArn), "launch type %q", c.launchType)
			want := c.launchType
			if want == "" {
				want = types.LaunchTypeEc2
			}
			assert.Equal(t, want, task.LaunchType)
		}
	}

	list, err := f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("mixed"), LaunchType: types.LaunchTypeExternal})
	require.NoError(t, err)
	assert.Len(t, list.TaskArns, 2)
	list, err = f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("mixed"), LaunchType: types.LaunchTypeEc2})
	require.NoError(t, err)
	assert.Len(t, list.TaskArns, 4)
}

// A task definition that requires EC2 compatibility cannot run as
// EXTERNAL, and the error says why.
func TestRequiresCompatibilitiesBindsTheLaunchType(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "c", "i-1")
	def := appDef("ec2only", 0)
	def.RequiresCompatibilities = []types.Compatibility{types.CompatibilityEc2}
	_, err := f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("ec2only"), LaunchType: types.LaunchTypeExternal})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not support launch type EXTERNAL: its requiresCompatibilities are EC2")

	// No external instance: an EXTERNAL task fails to place with ATTRIBUTE.
	_, err = f.ecs.RegisterTaskDefinition(ctx, appDef("any", 0))
	require.NoError(t, err)
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("any"), LaunchType: types.LaunchTypeExternal})
	require.NoError(t, err)
	assert.Empty(t, run.Tasks)
	require.Len(t, run.Failures, 1)
	assert.Equal(t, "ATTRIBUTE", aws.ToString(run.Failures[0].Reason))

	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("any"), LaunchType: types.LaunchTypeFargate})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "launchType FARGATE is not supported")
}
