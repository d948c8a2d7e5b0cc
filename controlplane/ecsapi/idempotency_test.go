package ecsapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

func taskARNs(tasks []types.Task) []string {
	out := make([]string, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, aws.ToString(t.TaskArn))
	}
	return out
}

func listTasks(t *testing.T, f *fixture, cluster string) []string {
	t.Helper()
	out, err := f.ecs.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(cluster)})
	require.NoError(t, err)
	return out.TaskArns
}

func TestRunTaskClientTokenMakesRetriesIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "c", "i-1")
	connectedInstance(t, f, "other", "i-2")
	register(t, f, appDef("app", 0))
	in := func() *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app"),
			ClientToken: aws.String("retry-me-1"), StartedBy: aws.String("me")}
	}

	first, err := f.ecs.RunTask(ctx, in())
	require.NoError(t, err)
	require.Len(t, first.Tasks, 1)
	// The retry answers with the same task and starts nothing.
	again, err := f.ecs.RunTask(ctx, in())
	require.NoError(t, err)
	assert.Equal(t, taskARNs(first.Tasks), taskARNs(again.Tasks))
	assert.Len(t, listTasks(t, f, "c"), 1)

	// Other parameters with the same token: ConflictException naming the tasks.
	changed := in()
	changed.StartedBy = aws.String("someone else")
	_, err = f.ecs.RunTask(ctx, changed)
	requireAPIError(t, err, CodeConflict)
	var conflict *types.ConflictException
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, taskARNs(first.Tasks), conflict.ResourceIds)
	assert.Contains(t, conflict.ErrorMessage(), "retry-me-1")
	assert.Len(t, listTasks(t, f, "c"), 1)

	// Tokens are per cluster.
	elsewhere := in()
	elsewhere.Cluster = aws.String("other")
	out, err := f.ecs.RunTask(ctx, elsewhere)
	require.NoError(t, err)
	require.Len(t, out.Tasks, 1)
	assert.NotEqual(t, taskARNs(first.Tasks), taskARNs(out.Tasks))

	// Without a token (the SDK fills in a fresh one each call) every call runs a task.
	noToken := in()
	noToken.ClientToken = nil
	_, err = f.ecs.RunTask(ctx, noToken)
	require.NoError(t, err)
	assert.Len(t, listTasks(t, f, "c"), 2)

	// After the token's lifetime the same token is a new request: it is
	// placed again (and the instance, holding two tasks, has no room left).
	f.api.o.Now = func() time.Time { return time.Now().Add(store.ClientTokenTTL + time.Minute) }
	late, err := f.ecs.RunTask(ctx, in())
	require.NoError(t, err)
	assert.Empty(t, late.Tasks)
	require.Len(t, late.Failures, 1)
	assert.Equal(t, "RESOURCE:MEMORY", aws.ToString(late.Failures[0].Reason))
}

// A replayed RunTask shows the tasks as they are now, and the failures the
// first request had.
func TestRunTaskReplayKeepsFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))
	in := &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app"), Count: aws.Int32(3), ClientToken: aws.String("t")}
	first, err := f.ecs.RunTask(ctx, in)
	require.NoError(t, err)
	require.Len(t, first.Tasks, 2)
	require.Len(t, first.Failures, 1)
	_, err = f.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: first.Tasks[0].TaskArn})
	require.NoError(t, err)

	again, err := f.ecs.RunTask(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, taskARNs(first.Tasks), taskARNs(again.Tasks))
	assert.Equal(t, "STOPPED", aws.ToString(again.Tasks[0].DesiredStatus))
	assert.Equal(t, []types.Failure{{Arn: aws.String(inst), Reason: aws.String("RESOURCE:MEMORY")}}, again.Failures)
}

func TestClientTokenValidation(t *testing.T) {
	f := newFixture(t)
	connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))
	for _, token := range []string{strings.Repeat("a", 65), "has space", "tab\there", "é"} {
		body, err := json.Marshal(map[string]any{"cluster": "c", "taskDefinition": "app", "clientToken": token})
		require.NoError(t, err)
		resp := rawCall(t, f.srv.URL, "RunTask", string(body), true)
		assert.Equal(t, http.StatusBadRequest, resp.status)
		assert.Equal(t, CodeInvalidParameter, resp.body["__type"], token)
		assert.Contains(t, resp.body["message"], "clientToken")

		body, err = json.Marshal(map[string]any{"cluster": "c", "clientToken": token})
		require.NoError(t, err)
		resp = rawCall(t, f.srv.URL, "RegisterContainerInstance", string(body), true)
		assert.Equal(t, CodeInvalidParameter, resp.body["__type"], token)
	}
	body := `{"cluster":"c","taskDefinition":"app","clientToken":"` + strings.Repeat("~", 64) + `"}`
	assert.Equal(t, http.StatusOK, rawCall(t, f.srv.URL, "RunTask", body, true).status)
}

// registerWithToken registers in cluster c with key and token (the SDK's
// RegisterContainerInstanceInput has no clientToken member; the agent adds
// it to the body) and returns the response.
func registerWithToken(t *testing.T, f *fixture, key, token string, memory int) rawResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"cluster": "c", "clientToken": token,
		"totalResources": []map[string]any{
			{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
			{"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
		},
	})
	require.NoError(t, err)
	return rawCallAs(t, f.srv.URL, key, "RegisterContainerInstance", string(body))
}

func registeredARN(t *testing.T, resp rawResponse) string {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
	return resp.body["containerInstance"].(map[string]any)["containerInstanceArn"].(string)
}

// The agent sends a clientToken it saved before its first registration: a
// repeat after a lost response (or a crash before the ARN was saved)
// re-registers the same instance, even with changed resources.
func TestRegisterClientTokenNeverMakesASecondInstance(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")})
	require.NoError(t, err)
	const token1, token2 = "3f1e2c0a-0000-4000-8000-000000000001", "3f1e2c0a-0000-4000-8000-000000000002"

	first := registeredARN(t, registerWithToken(t, f, testAgentKey, token1, 3900))
	again := registerWithToken(t, f, testAgentKey, token1, 3800) // memory changed between the attempts
	assert.Equal(t, first, registeredARN(t, again))
	assert.Contains(t, string(again.raw), `"integerValue":3800`)
	list, err := f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	require.NoError(t, err)
	assert.Len(t, list.ContainerInstanceArns, 1)

	// Another key's registration with the same token does not get the instance.
	denied := registerWithToken(t, f, testAgentKey2, token1, 3900)
	assert.Equal(t, "AccessDeniedException", denied.body["__type"])

	// A new token is a new instance; so is the old token once its instance is gone.
	second := registeredARN(t, registerWithToken(t, f, testAgentKey, token2, 3900))
	assert.NotEqual(t, first, second)
	_, err = f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("c"), ContainerInstance: aws.String(first)})
	require.NoError(t, err)
	third := registeredARN(t, registerWithToken(t, f, testAgentKey, token1, 3900))
	assert.NotEqual(t, first, third)
	assert.NotEqual(t, second, third)
}
