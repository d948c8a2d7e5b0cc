package ecsapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGatedFeaturesDoNotPlace: a task definition using a feature an agent
// must implement is placed only on an instance that advertises it. The
// test instance advertises none, so RunTask fails with ATTRIBUTE, and a
// GPU task with RESOURCE:GPU, as in ECS.
func TestGatedFeaturesDoNotPlace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "g", "i-g")
	for family, c := range map[string]struct {
		container string
		reason    string
	}{
		"secrets":  {`{"name":"a","image":"i","memory":64,"secrets":[{"name":"A","valueFrom":"/p"}]}`, "ATTRIBUTE"},
		"envfiles": {`{"name":"a","image":"i","memory":64,"environmentFiles":[{"type":"s3","value":"arn:aws:s3:::b/a.env"}]}`, "ATTRIBUTE"},
		"gpu":      {`{"name":"a","image":"i","memory":64,"resourceRequirements":[{"type":"GPU","value":"1"}]}`, "RESOURCE:GPU"},
	} {
		resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", `{"family":"`+family+`","containerDefinitions":[`+c.container+`]}`, true)
		require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
		run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("g"), TaskDefinition: aws.String(family)})
		require.NoError(t, err)
		assert.Empty(t, run.Tasks, family)
		require.Len(t, run.Failures, 1, family)
		assert.Equal(t, c.reason, aws.ToString(run.Failures[0].Reason), family)
	}
}

// An override that asks for a gated feature is gated as the definition
// would be: a taskRoleArn given only in RunTask's overrides needs
// task-iam-role just as one registered in the definition does.
func TestGatedOverridesDoNotPlace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "g", "i-g")
	resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition",
		`{"family":"plain","containerDefinitions":[{"name":"a","image":"i","memory":64}]}`, true)
	require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("g"), TaskDefinition: aws.String("plain"),
		Overrides: &ecstypes.TaskOverride{TaskRoleArn: aws.String("arn:aws:iam::000000000000:role/app")}})
	require.NoError(t, err)
	assert.Empty(t, run.Tasks)
	require.Len(t, run.Failures, 1)
	assert.Equal(t, "ATTRIBUTE", aws.ToString(run.Failures[0].Reason))
}
