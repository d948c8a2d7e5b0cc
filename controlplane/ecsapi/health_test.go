package ecsapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

// fakeTelemetry is a TelemetrySource whose answers the test sets.
type fakeTelemetry struct {
	mu        sync.Mutex
	health    map[string]string // task ARN + "/" + container -> status
	instances map[string][]telemetry.InstanceStatus
}

func (f *fakeTelemetry) ContainerHealth(taskARN, container string) (telemetry.ContainerHealth, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.health[taskARN+"/"+container]
	return telemetry.ContainerHealth{Name: container, Status: s}, ok
}

func (f *fakeTelemetry) InstanceStatuses(arn string) ([]telemetry.InstanceStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.instances[arn]
	return s, ok
}

func (f *fakeTelemetry) set(taskARN string, statuses map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = map[string]string{}
	for c, s := range statuses {
		f.health[taskARN+"/"+c] = s
	}
}

// healthDef has essential containers web and api with health checks, an
// essential plain one without, and a non-essential checked sidecar.
func healthDef() *ecs.RegisterTaskDefinitionInput {
	check := &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
	c := func(name string, essential bool, hc *types.HealthCheck) types.ContainerDefinition {
		return types.ContainerDefinition{Name: aws.String(name), Image: aws.String("busybox"), Memory: aws.Int32(16),
			Essential: aws.Bool(essential), HealthCheck: hc}
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String("checked"), ContainerDefinitions: []types.ContainerDefinition{
		c("web", true, check), c("api", true, check), c("plain", true, nil), c("sidecar", false, check),
	}}
}

func healthCheckedInstance(t *testing.T, f *fixture, cluster string) string {
	t.Helper()
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
	require.NoError(t, err)
	in := sdkRegisterInput(cluster)
	in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("ecs.capability.container-health-check")},
		types.Attribute{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.24")})
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	return arn
}

func TestDescribeTasksHealth(t *testing.T) {
	f := newFixture(t)
	tel := &fakeTelemetry{}
	f.api.o.Telemetry = tel
	ctx := context.Background()
	healthCheckedInstance(t, f, "c")
	register(t, f, healthDef())
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("checked")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	arn := aws.ToString(run.Tasks[0].TaskArn)

	for _, tc := range []struct {
		name     string
		reported map[string]string
		task     types.HealthStatus
		web, api types.HealthStatus
	}{
		{"nothing reported", nil, "UNKNOWN", "UNKNOWN", "UNKNOWN"},
		{"all essential checks pass", map[string]string{"web": "HEALTHY", "api": "HEALTHY", "sidecar": "UNHEALTHY"},
			"HEALTHY", "HEALTHY", "HEALTHY"},
		{"one essential check fails", map[string]string{"web": "HEALTHY", "api": "UNHEALTHY"}, "UNHEALTHY", "HEALTHY", "UNHEALTHY"},
		{"one essential check unknown", map[string]string{"web": "HEALTHY", "api": "UNKNOWN"}, "UNKNOWN", "HEALTHY", "UNKNOWN"},
		{"one reported, one missing", map[string]string{"web": "HEALTHY"}, "UNKNOWN", "HEALTHY", "UNKNOWN"},
		{"failure wins over unknown", map[string]string{"web": "UNHEALTHY"}, "UNHEALTHY", "UNHEALTHY", "UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reported := map[string]string{"plain": "HEALTHY"} // an image's own HEALTHCHECK: ECS ignores it
			for k, v := range tc.reported {
				reported[k] = v
			}
			tel.set(arn, reported)
			got := describeTask(t, f, "c", arn)
			assert.Equal(t, tc.task, got.HealthStatus, "task")
			byName := map[string]types.HealthStatus{}
			for _, c := range got.Containers {
				byName[aws.ToString(c.Name)] = c.HealthStatus
			}
			assert.Equal(t, tc.web, byName["web"])
			assert.Equal(t, tc.api, byName["api"])
			assert.Equal(t, types.HealthStatus("UNKNOWN"), byName["plain"], "no health check in its definition")
			sidecar := types.HealthStatus(tc.reported["sidecar"])
			if sidecar == "" {
				sidecar = "UNKNOWN"
			}
			assert.Equal(t, sidecar, byName["sidecar"], "a non-essential container shows its own health")
		})
	}
}

func TestDescribeTasksHealthWithoutChecks(t *testing.T) {
	f := newFixture(t)
	f.api.o.Telemetry = &fakeTelemetry{}
	connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	got := describeTask(t, f, "c", aws.ToString(run.Tasks[0].TaskArn))
	assert.Equal(t, types.HealthStatus("UNKNOWN"), got.HealthStatus)
	assert.Equal(t, types.HealthStatus("UNKNOWN"), got.Containers[0].HealthStatus)
}

func TestDescribeContainerInstancesHealth(t *testing.T) {
	f := newFixture(t)
	tel := &fakeTelemetry{instances: map[string][]telemetry.InstanceStatus{}}
	f.api.o.Telemetry = tel
	ctx := context.Background()
	arn := connectedInstance(t, f, "c", "i-1")
	describe := func(include ...types.ContainerInstanceField) *types.ContainerInstanceHealthStatus {
		t.Helper()
		d, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String("c"), ContainerInstances: []string{arn}, Include: include})
		require.NoError(t, err)
		require.Len(t, d.ContainerInstances, 1)
		return d.ContainerInstances[0].HealthStatus
	}
	withHealth := types.ContainerInstanceFieldContainerInstanceHealth

	got := describe(withHealth)
	require.NotNil(t, got, "no report yet")
	assert.Equal(t, types.InstanceHealthCheckStateInsufficientData, got.OverallStatus)
	assert.Empty(t, got.Details)

	updated := time.Unix(1700000000, 0).UTC()
	changed := time.Unix(1699990000, 0).UTC()
	tel.instances[arn] = []telemetry.InstanceStatus{
		{Type: "Agent", Status: "OK", LastUpdated: updated, LastStatusChange: changed},
		{Type: "ContainerRuntime", Status: "OK", LastUpdated: updated, LastStatusChange: changed},
	}
	got = describe(withHealth)
	assert.Equal(t, types.InstanceHealthCheckStateOk, got.OverallStatus)
	require.Len(t, got.Details, 2)
	assert.Equal(t, types.InstanceHealthCheckType("AGENT"), got.Details[0].Type)
	assert.Equal(t, types.InstanceHealthCheckTypeContainerRuntime, got.Details[1].Type)
	assert.Equal(t, types.InstanceHealthCheckStateOk, got.Details[1].Status)
	assert.Equal(t, updated, aws.ToTime(got.Details[1].LastUpdated).UTC())
	assert.Equal(t, changed, aws.ToTime(got.Details[1].LastStatusChange).UTC())

	assert.Nil(t, describe(), "only with include CONTAINER_INSTANCE_HEALTH")
	assert.Nil(t, describe(types.ContainerInstanceFieldTags))

	for _, tc := range []struct {
		statuses []string
		overall  types.InstanceHealthCheckState
	}{
		{[]string{"OK", "INITIALIZING"}, "INITIALIZING"},
		{[]string{"INITIALIZING", "INSUFFICIENT_DATA"}, "INSUFFICIENT_DATA"},
		{[]string{"INSUFFICIENT_DATA", "IMPAIRED"}, "IMPAIRED"},
		{[]string{"IMPAIRED", "OK"}, "IMPAIRED"},
	} {
		tel.instances[arn] = []telemetry.InstanceStatus{{Type: "A", Status: tc.statuses[0]}, {Type: "B", Status: tc.statuses[1]}}
		got := describe(withHealth)
		assert.Equal(t, tc.overall, got.OverallStatus, "%v", tc.statuses)
		assert.Nil(t, got.Details[0].LastUpdated, "no time, no member")
	}
}

func TestUpperSnake(t *testing.T) {
	for in, want := range map[string]string{
		"ContainerRuntime":    "CONTAINER_RUNTIME",
		"Agent":               "AGENT",
		"EBSDaemon":           "EBS_DAEMON",
		"ACCELERATED_COMPUTE": "ACCELERATED_COMPUTE",
		"":                    "",
	} {
		assert.Equal(t, want, upperSnake(in), in)
	}
}
