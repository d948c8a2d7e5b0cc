package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newServiceFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("svc")})
	require.NoError(t, err)
	_, err = f.ecs.RegisterTaskDefinition(ctx, appDef("web", 0))
	require.NoError(t, err)
	_, err = f.ecs.RegisterTaskDefinition(ctx, appDef("web", 0))
	require.NoError(t, err)
	return f
}

// A service is created as ECS shows it, listed, described with its tags,
// updated into a new deployment and deleted through DRAINING.
func TestServiceLifecycleShapes(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	created, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2), ClientToken: aws.String("tok-1"),
		Tags: []types.Tag{tag("team", "blue")}, PropagateTags: types.PropagateTagsService,
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	require.NoError(t, err)
	s := created.Service
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:service/svc/api", aws.ToString(s.ServiceArn))
	assert.Equal(t, "ACTIVE", aws.ToString(s.Status))
	assert.Equal(t, types.SchedulingStrategyReplica, s.SchedulingStrategy)
	assert.Equal(t, types.LaunchTypeEc2, s.LaunchType)
	assert.Equal(t, int32(200), aws.ToInt32(s.DeploymentConfiguration.MaximumPercent))
	assert.Equal(t, int32(100), aws.ToInt32(s.DeploymentConfiguration.MinimumHealthyPercent))
	assert.True(t, s.DeploymentConfiguration.DeploymentCircuitBreaker.Rollback)
	require.Len(t, s.Deployments, 1)
	d := s.Deployments[0]
	assert.Regexp(t, `^ecs-svc/\d{19}$`, aws.ToString(d.Id))
	assert.Equal(t, "PRIMARY", aws.ToString(d.Status))
	assert.Equal(t, types.DeploymentRolloutStateInProgress, d.RolloutState)
	assert.Equal(t, int32(2), d.DesiredCount)

	// The same request again answers with the service; another is refused.
	again, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2), ClientToken: aws.String("tok-1"),
		Tags: []types.Tag{tag("team", "blue")}, PropagateTags: types.PropagateTagsService,
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	require.NoError(t, err)
	assert.Equal(t, aws.ToString(d.Id), aws.ToString(again.Service.Deployments[0].Id))
	_, err = f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web:2"), DesiredCount: aws.Int32(2)})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "Creation of service was not idempotent.")

	_, err = f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("agentd"),
		TaskDefinition: aws.String("web"), SchedulingStrategy: types.SchedulingStrategyDaemon})
	require.NoError(t, err)

	list, err := f.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	assert.Equal(t, []string{"arn:aws:ecs:us-east-1:123456789012:service/svc/agentd"}, list.ServiceArns)
	next, err := f.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), NextToken: list.NextToken})
	require.NoError(t, err)
	assert.Equal(t, []string{"arn:aws:ecs:us-east-1:123456789012:service/svc/api"}, next.ServiceArns)
	daemons, err := f.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("svc"), SchedulingStrategy: types.SchedulingStrategyDaemon})
	require.NoError(t, err)
	assert.Len(t, daemons.ServiceArns, 1)

	desc, err := f.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"api", "nope"},
		Include: []types.ServiceField{types.ServiceFieldTags}})
	require.NoError(t, err)
	require.Len(t, desc.Services, 1)
	assert.Equal(t, map[string]string{"team": "blue"}, tagMap(desc.Services[0].Tags))
	require.Len(t, desc.Failures, 1)
	assert.Equal(t, "MISSING", aws.ToString(desc.Failures[0].Reason))
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:service/svc/nope", aws.ToString(desc.Failures[0].Arn))

	updated, err := f.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), TaskDefinition: aws.String("web:2")})
	require.NoError(t, err)
	require.Len(t, updated.Service.Deployments, 2)
	assert.Equal(t, "PRIMARY", aws.ToString(updated.Service.Deployments[0].Status))
	assert.Contains(t, aws.ToString(updated.Service.Deployments[0].TaskDefinition), "web:2")
	assert.Equal(t, "ACTIVE", aws.ToString(updated.Service.Deployments[1].Status))

	clusters, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"svc"}})
	require.NoError(t, err)
	assert.Equal(t, int32(2), clusters.Clusters[0].ActiveServicesCount)
	_, err = f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("svc")})
	requireAPIErrorMentions(t, err, CodeClusterContainsServices, "The Cluster cannot be deleted while Services are active.")

	_, err = f.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("api")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "The service cannot be stopped while it is scaled above 0.")
	deleted, err := f.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), Force: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "DRAINING", aws.ToString(deleted.Service.Status))
	assert.Equal(t, int32(0), deleted.Service.DesiredCount)
	_, err = f.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), DesiredCount: aws.Int32(1)})
	requireAPIErrorMentions(t, err, CodeServiceNotActive, "Service was not ACTIVE.")
	_, err = f.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("ghost"), DesiredCount: aws.Int32(1)})
	requireAPIErrorMentions(t, err, CodeServiceNotFound, "Service not found.")
}

func TestCreateServiceValidation(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	base := func() *ecs.CreateServiceInput {
		return &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}
	}
	cases := []struct {
		name  string
		edit  func(*ecs.CreateServiceInput)
		code  string
		words []string
	}{
		{"no name", func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("") }, CodeInvalidParameter, []string{"serviceName"}},
		{"bad name", func(in *ecs.CreateServiceInput) { in.ServiceName = aws.String("a b") }, CodeInvalidParameter, []string{"serviceName"}},
		{"no task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = nil }, CodeInvalidParameter, []string{"taskDefinition"}},
		{"missing task definition", func(in *ecs.CreateServiceInput) { in.TaskDefinition = aws.String("nope") }, CodeInvalidParameter, []string{"nope"}},
		{"no desired count", func(in *ecs.CreateServiceInput) { in.DesiredCount = nil }, CodeInvalidParameter, []string{"desiredCount"}},
		{"negative count", func(in *ecs.CreateServiceInput) { in.DesiredCount = aws.Int32(-1) }, CodeInvalidParameter, []string{"desiredCount"}},
		{"fargate", func(in *ecs.CreateServiceInput) { in.LaunchType = types.LaunchTypeFargate }, CodeInvalidParameter, []string{"launchType"}},
		{"daemon with count", func(in *ecs.CreateServiceInput) { in.SchedulingStrategy = types.SchedulingStrategyDaemon }, CodeInvalidParameter, []string{"does not support a desired count"}},
		{"bad strategy", func(in *ecs.CreateServiceInput) { in.SchedulingStrategy = "SOMETIMES" }, CodeInvalidParameter, []string{"schedulingStrategy"}},
		{"min above 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(150)}
		}, CodeInvalidParameter, []string{"minimumHealthyPercent"}},
		{"max below 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}
		}, CodeInvalidParameter, []string{"maximumPercent"}},
		{"max 100 and min 100", func(in *ecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(100)}
		}, CodeInvalidParameter, []string{"no task could ever be replaced"}},
		{"bad constraint", func(in *ecs.CreateServiceInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}
		}, CodeInvalidParameter, nil},
		{"bad propagateTags", func(in *ecs.CreateServiceInput) { in.PropagateTags = "ALL" }, CodeInvalidParameter, []string{"propagateTags"}},
		{"load balancer", func(in *ecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{ContainerName: aws.String("main"), ContainerPort: aws.Int32(80)}}
		}, CodeInvalidParameter, []string{"loadBalancers"}},
		{"missing cluster", func(in *ecs.CreateServiceInput) { in.Cluster = aws.String("nope") }, CodeClusterNotFound, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.edit(in)
			_, err := f.ecs.CreateService(ctx, in)
			requireAPIErrorMentions(t, err, c.code, c.words...)
		})
	}
}
