package ecsapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

const (
	appRoleARN  = "arn:aws:iam::123456789012:role/app"
	execRoleARN = "arn:aws:iam::123456789012:role/exec"
)

// roleInstance registers an instance that advertises task IAM roles.
func roleInstance(t *testing.T, f *fixture, cluster string) string {
	t.Helper()
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
	require.NoError(t, err)
	in := sdkRegisterInput(cluster)
	in.InstanceIdentityDocument = aws.String(`{"instanceId":"i-role","availabilityZone":"us-east-1a"}`)
	in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("com.amazonaws.ecs.capability.task-iam-role")})
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	return arn
}

func roleDef(family string) *ecs.RegisterTaskDefinitionInput {
	in := appDef(family, 0)
	in.TaskRoleArn, in.ExecutionRoleArn = aws.String(appRoleARN), aws.String(execRoleARN)
	return in
}

// Without a source of role credentials, a task with roles that would be
// placed is not started, and the reason says how to give the control plane
// one.
func TestRunTaskWithRolesNeedsACredentialsSource(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	instance := roleInstance(t, f, "r")
	register(t, f, roleDef("role"))
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("r"), TaskDefinition: aws.String("role")})
	require.NoError(t, err)
	assert.Empty(t, run.Tasks)
	require.Len(t, run.Failures, 1)
	assert.Equal(t, "ROLE: the task has taskRoleArn "+appRoleARN+" and executionRoleArn "+execRoleARN+
		", but this control plane issues no role credentials: start ecs-controlplane with -sts-endpoint URL (STS AssumeRole) "+
		"or -roles FILE (static keys per role)", aws.ToString(run.Failures[0].Reason))
	assert.Contains(t, aws.ToString(run.Failures[0].Arn), "task-definition/role:1")

	start, err := f.ecs.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("r"), TaskDefinition: aws.String("role"),
		ContainerInstances: []string{instance}})
	require.NoError(t, err)
	assert.Empty(t, start.Tasks)
	require.Len(t, start.Failures, 1)
	assert.Equal(t, instance, aws.ToString(start.Failures[0].Arn))
	assert.True(t, strings.HasPrefix(aws.ToString(start.Failures[0].Reason), "ROLE: "), aws.ToString(start.Failures[0].Reason))
}

// With a source, each task gets random credentials IDs for its roles
// (overrides included), kept in the store and never shown by the API.
func TestRunTaskNamesItsRoleCredentials(t *testing.T) {
	f := newFixture(t)
	f.api.o.RoleSource = "the roles file /etc/roles.json"
	ctx := context.Background()
	roleInstance(t, f, "r")
	register(t, f, roleDef("role"))
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("r"), TaskDefinition: aws.String("role"), Count: aws.Int32(2),
		Overrides: &types.TaskOverride{TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/override")}})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 2, "%+v", run.Failures)

	var tasks []store.Task
	require.NoError(t, f.api.o.Store.View(func(tx store.Tx) error {
		var err error
		tasks, err = tx.LiveTasks("r", "")
		return err
	}))
	require.Len(t, tasks, 2)
	ids := map[string]bool{}
	for _, tk := range tasks {
		task, ok := tk.Role(store.RoleTypeTask)
		require.True(t, ok)
		assert.Equal(t, "arn:aws:iam::123456789012:role/override", task.RoleARN, "the override's role")
		exec, ok := tk.Role(store.RoleTypeExecution)
		require.True(t, ok)
		assert.Equal(t, execRoleARN, exec.RoleARN)
		ids[task.ID], ids[exec.ID] = true, true
	}
	assert.Len(t, ids, 4, "every ID is its own")

	desc, err := f.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("r"), Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}})
	require.NoError(t, err)
	raw := fmt.Sprintf("%+v", desc.Tasks)
	for id := range ids {
		assert.False(t, strings.Contains(raw, id), "DescribeTasks shows a credentials ID")
	}
	resp := rawCall(t, f.srv.URL, "DescribeTasks", `{"cluster":"r","tasks":["`+aws.ToString(run.Tasks[0].TaskArn)+`"]}`, true)
	assert.NotContains(t, string(resp.raw), "roleCredentials")
	assert.NotContains(t, string(resp.raw), "credentialsId")
}
