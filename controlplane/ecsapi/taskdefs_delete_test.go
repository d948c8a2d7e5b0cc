package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

const tdARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/"

// DeleteTaskDefinitions takes INACTIVE revisions to DELETE_IN_PROGRESS and
// reports the others as failures; such a revision runs no task, stays
// until no task uses it, and its number is never given again.
func TestDeleteTaskDefinitions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "del", "i-del")
	def := appDef("del", 0)
	def.ContainerDefinitions[0].Memory = aws.Int32(10)
	for range 3 {
		_, err := f.ecs.RegisterTaskDefinition(ctx, def)
		require.NoError(t, err)
	}
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("del"), TaskDefinition: aws.String("del:1")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	for _, rev := range []string{"del:1", "del:2"} {
		_, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(rev)})
		require.NoError(t, err)
	}

	out, err := f.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{
		"del:1", tdARN + "del:2", "del:3", "del:9", "del", "arn:aws:ecs:eu-west-1:1:task-definition/del:1"}})
	require.NoError(t, err)
	require.Len(t, out.TaskDefinitions, 2)
	for _, td := range out.TaskDefinitions {
		assert.Equal(t, types.TaskDefinitionStatusDeleteInProgress, td.Status)
	}
	reasons := map[string]string{}
	for _, fl := range out.Failures {
		reasons[aws.ToString(fl.Arn)] = aws.ToString(fl.Reason)
	}
	assert.Equal(t, map[string]string{
		tdARN + "del:3": reasonTaskDefIsActive,
		tdARN + "del:9": reasonTaskDefMissing,
		"del":           reasonTaskDefInvalid,
		"arn:aws:ecs:eu-west-1:1:task-definition/del:1": reasonTaskDefInvalid,
	}, reasons)

	// Being deleted: describable, listed under its status, runs nothing,
	// and deregistering it again changes nothing.
	d, err := f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("del:2")})
	require.NoError(t, err)
	assert.Equal(t, types.TaskDefinitionStatusDeleteInProgress, d.TaskDefinition.Status)
	l, err := f.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusDeleteInProgress})
	require.NoError(t, err)
	assert.Equal(t, []string{tdARN + "del:1", tdARN + "del:2"}, l.TaskDefinitionArns)
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("del"), TaskDefinition: aws.String("del:2")})
	requireAPIErrorMentions(t, err, CodeClientException, "DELETE_IN_PROGRESS", "run an ACTIVE revision")
	dr, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("del:2")})
	require.NoError(t, err)
	assert.Equal(t, types.TaskDefinitionStatusDeleteInProgress, dr.TaskDefinition.Status)
	again, err := f.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"del:2"}})
	require.NoError(t, err)
	assert.Len(t, again.TaskDefinitions, 1, "deleting twice is harmless")

	// The pruner's round removes what no task uses: del:2, not del:1,
	// whose task still runs.
	pruner := store.NewPruner(store.PrunerOptions{Store: f.api.o.Store})
	n, err := pruner.FinishTaskDefinitionDeletions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("del:2")})
	requireAPIErrorMentions(t, err, CodeClientException)
	_, err = f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("del:1")})
	require.NoError(t, err)
	assert.Equal(t, "RUNNING", aws.ToString(describeTask(t, f, "del", aws.ToString(run.Tasks[0].TaskArn)).DesiredStatus))

	// Deleting the latest revision does not free its number.
	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("del:3")})
	require.NoError(t, err)
	_, err = f.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"del:3"}})
	require.NoError(t, err)
	_, err = pruner.FinishTaskDefinitionDeletions(ctx)
	require.NoError(t, err)
	reg, err := f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)
	assert.Equal(t, int32(4), reg.TaskDefinition.Revision)

	_, err = f.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "taskDefinitions can not be empty")
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "del:1"
	}
	_, err = f.ecs.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: eleven})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "at most 10")
}
