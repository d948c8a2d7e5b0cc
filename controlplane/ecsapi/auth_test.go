package ecsapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// requireDenied asserts an AccessDeniedException with HTTP 400 whose
// message contains want.
func requireDenied(t *testing.T, err error, want string) {
	t.Helper()
	requireAPIError(t, err, "AccessDeniedException")
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	assert.Contains(t, ae.ErrorMessage(), want)
	var re *smithyhttp.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusBadRequest, re.HTTPStatusCode())
}

func TestAgentKeyIsRefusedAdminOperations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	agent := newClientFor(f.srv.URL, testAgentKey, testSecret)

	// What an ECS agent does is allowed.
	_, err := agent.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")})
	require.NoError(t, err)
	_, err = agent.RegisterContainerInstance(ctx, sdkRegisterInput("c"))
	require.NoError(t, err)
	_, err = agent.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String("c")})
	require.NoError(t, err)

	// Everything else is not.
	_, err = agent.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	requireDenied(t, err, "User: arn:aws:iam::"+testAccount+":user/agent1 is not authorized to perform: ecs:RunTask because its access key "+testAgentKey+" has ecs_role = agent")
	_, err = agent.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("c")})
	requireDenied(t, err, "ecs:DeleteCluster")
	_, err = agent.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	requireDenied(t, err, "ecs:ListContainerInstances")
	_, err = agent.RegisterTaskDefinition(ctx, appDef("app", 0))
	requireDenied(t, err, "ecs:RegisterTaskDefinition")

	// The cluster is still there: the refused DeleteCluster did nothing.
	d, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}})
	require.NoError(t, err)
	assert.Equal(t, "ACTIVE", aws.ToString(d.Clusters[0].Status))
}

// agentInstance registers an instance with an agent key's client and marks
// it connected; it returns the ARN.
func agentInstance(t *testing.T, f *fixture, client *ecs.Client, cluster, ec2ID string) string {
	t.Helper()
	ctx := context.Background()
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
	require.NoError(t, err)
	in := sdkRegisterInput(cluster)
	in.InstanceIdentityDocument = aws.String(`{"instanceId":"` + ec2ID + `"}`)
	reg, err := client.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	return arn
}

func TestAnInstanceBelongsToTheKeyThatRegisteredIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	agent1 := newClientFor(f.srv.URL, testAgentKey, testSecret)
	agent2 := newClientFor(f.srv.URL, testAgentKey2, testSecret)
	inst := agentInstance(t, f, agent1, "c", "i-1")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	task := aws.ToString(run.Tasks[0].TaskArn)
	running := &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("c"), Task: aws.String(task), Status: aws.String("RUNNING")}

	// Another agent key can neither report for the instance's tasks...
	_, err = agent2.SubmitTaskStateChange(ctx, running)
	requireDenied(t, err, "ecs:SubmitTaskStateChange on resource: "+inst+" because the container instance was registered with another access key")
	_, err = agent2.SubmitContainerStateChange(ctx, &ecs.SubmitContainerStateChangeInput{
		Cluster: aws.String("c"), Task: aws.String(task), ContainerName: aws.String("main"), Status: aws.String("STOPPED")})
	requireDenied(t, err, "ecs:SubmitContainerStateChange on resource: "+inst)
	assert.Equal(t, "PENDING", aws.ToString(describeTask(t, f, "c", task).LastStatus), "the refused report changed nothing")
	// ...nor take over, drain or deregister the instance.
	in := sdkRegisterInput("c")
	in.ContainerInstanceArn = aws.String(inst)
	_, err = agent2.RegisterContainerInstance(ctx, in)
	requireDenied(t, err, "ecs:RegisterContainerInstance on resource: "+inst)
	_, err = agent2.RegisterContainerInstance(ctx, sdkRegisterInput("c")) // another EC2 instance ID
	require.NoError(t, err, "a new instance of its own is fine")
	_, err = agent2.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("c"), ContainerInstances: []string{inst}, Status: types.ContainerInstanceStatusDraining})
	requireDenied(t, err, "ecs:UpdateContainerInstancesState on resource: "+inst)
	_, err = agent2.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("c"), ContainerInstance: aws.String(inst), Force: aws.Bool(true)})
	requireDenied(t, err, "ecs:DeregisterContainerInstance on resource: "+inst)
	p2 := authz.Principal{AccessKeyID: testAgentKey2, Role: authz.RoleAgent}
	assert.ErrorIs(t, f.api.CheckInstance(ctx, p2, authz.ActionPoll, "c", inst), authz.ErrAccessDenied)

	// The owner keeps working.
	p1 := authz.Principal{AccessKeyID: testAgentKey, Role: authz.RoleAgent}
	require.NoError(t, f.api.CheckInstance(ctx, p1, authz.ActionPoll, "c", inst))
	_, err = agent1.SubmitTaskStateChange(ctx, running)
	require.NoError(t, err)
	assert.Equal(t, "RUNNING", aws.ToString(describeTask(t, f, "c", task).LastStatus))
	_, err = agent1.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	_, err = agent1.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("c"), ContainerInstances: []string{inst}, Status: types.ContainerInstanceStatusDraining})
	require.NoError(t, err)
	_, err = agent1.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("c"), ContainerInstance: aws.String(inst), Force: aws.Bool(true)})
	require.NoError(t, err)
}

func TestAdminKeysActOnEveryInstance(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := agentInstance(t, f, newClientFor(f.srv.URL, testAgentKey, testSecret), "c", "i-1")
	admin := authz.Principal{AccessKeyID: testKey, Role: authz.RoleAdmin}
	require.NoError(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "c", inst))
	in := sdkRegisterInput("c")
	in.ContainerInstanceArn = aws.String(inst)
	_, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	// Re-registering by an admin does not change the owner.
	ci := storedInstance(t, f, inst)
	assert.Equal(t, testAgentKey, ci.Owner)
}

func storedInstance(t *testing.T, f *fixture, arn string) store.ContainerInstance {
	t.Helper()
	ref, ok := f.api.parseInstanceRef(arn)
	require.True(t, ok)
	var ci store.ContainerInstance
	require.NoError(t, f.api.o.Store.View(func(tx store.Tx) error {
		var err error
		ci, err = tx.Instance(ref.cluster, ref.id)
		return err
	}))
	return ci
}

// An instance registered before owners were recorded belongs to the first
// key that registers it again; then to that key only.
func TestLegacyInstanceIsClaimedByItsNextRegistration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := agentInstance(t, f, f.ecs, "c", "i-1")
	ci := storedInstance(t, f, inst)
	ci.Owner = ""
	require.NoError(t, f.api.o.Store.Update(func(tx store.Tx) error { return tx.PutInstance(ci) }))

	agent1 := newClientFor(f.srv.URL, testAgentKey, testSecret)
	p1 := authz.Principal{AccessKeyID: testAgentKey, Role: authz.RoleAgent}
	err := f.api.CheckInstance(ctx, p1, authz.ActionPoll, "c", inst)
	require.ErrorIs(t, err, authz.ErrAccessDenied, "an ownerless instance's session needs a registration first")
	assert.Contains(t, err.Error(), "no recorded owner")

	in := sdkRegisterInput("c")
	in.ContainerInstanceArn = aws.String(inst)
	_, err = agent1.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, testAgentKey, storedInstance(t, f, inst).Owner)
	require.NoError(t, f.api.CheckInstance(ctx, p1, authz.ActionPoll, "c", inst))

	_, err = newClientFor(f.srv.URL, testAgentKey2, testSecret).RegisterContainerInstance(ctx, in)
	requireDenied(t, err, "another access key")
}

// A handler reached without a resolved principal refuses: authorization
// fails closed.
func TestHandlersWithoutAPrincipalRefuse(t *testing.T) {
	f := newFixture(t)
	connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)

	_, err = f.api.registerContainerInstance(context.Background(), nil, []byte(`{"cluster":"c"}`))
	require.ErrorIs(t, err, authz.ErrAccessDenied)
	body := `{"cluster":"c","task":"` + aws.ToString(run.Tasks[0].TaskArn) + `","status":"RUNNING"}`
	_, err = f.api.submitTaskStateChange(context.Background(), nil, []byte(body))
	require.ErrorIs(t, err, authz.ErrAccessDenied)
}
