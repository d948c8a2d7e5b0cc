package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// OnTaskStopped hears of a task once, when an agent's report records it
// STOPPED, and of no other change.
func TestReportedStopIsAnnouncedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "p", "i-a")
	register(t, f, appDef("app", 0))
	var stopped []string
	f.api.o.OnTaskStopped = func(arn string) { stopped = append(stopped, arn) }
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	arn := run.Tasks[0].TaskArn
	for _, status := range []string{"RUNNING", "STOPPED", "STOPPED"} {
		_, err := f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("p"),
			Task: arn, Status: aws.String(status)})
		require.NoError(t, err)
	}
	assert.Equal(t, []string{aws.ToString(arn)}, stopped)
}
