package ecsapi

import (
	"context"
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

// withInstance registers a connected instance (2048 CPU, 3900 MiB) in the
// fixture's "svc" cluster and returns its ARN.
func withInstance(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	reg, err := f.ecs.RegisterContainerInstance(ctx, sdkRegisterInput("svc"))
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	return arn
}

func serviceTaskList(t *testing.T, f *fixture, name string) []types.Task {
	t.Helper()
	ctx := context.Background()
	list, err := f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: aws.String(name)})
	require.NoError(t, err)
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := f.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("svc"), Tasks: list.TaskArns,
		Include: []types.TaskField{types.TaskFieldTags}})
	require.NoError(t, err)
	return out.Tasks
}

func serviceEvents(t *testing.T, f *fixture, name string) string {
	t.Helper()
	out, err := f.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{name}})
	require.NoError(t, err)
	require.Len(t, out.Services, 1)
	var msgs []string
	for _, e := range out.Services[0].Events {
		msgs = append(msgs, aws.ToString(e.Message))
	}
	return strings.Join(msgs, "\n")
}

// The scheduler starts a service's tasks through RunTask's placement, with
// startedBy and group as ECS sets them and the service's tags propagated,
// and says so in an event; what does not fit is an "unable to place" event
// naming the reason.
func TestServiceSchedulerStartsTasks(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	instance := withInstance(t, f)
	created, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2), Tags: []types.Tag{tag("team", "blue")},
		PropagateTags: types.PropagateTagsService, EnableECSManagedTags: true})
	require.NoError(t, err)
	require.NoError(t, f.api.ReconcileServices(ctx))

	tasks := serviceTaskList(t, f, "api")
	require.Len(t, tasks, 2)
	for _, task := range tasks {
		assert.Equal(t, aws.ToString(created.Service.Deployments[0].Id), aws.ToString(task.StartedBy))
		assert.Equal(t, "service:api", aws.ToString(task.Group))
		assert.Equal(t, instance, aws.ToString(task.ContainerInstanceArn))
		assert.Equal(t, map[string]string{"team": "blue", "aws:ecs:clusterName": "svc", "aws:ecs:serviceName": "api"}, tagMap(task.Tags))
	}
	assert.Contains(t, serviceEvents(t, f, "api"), "(service api) has started 2 tasks: (task ")

	// A third task of 1500 MiB does not fit in what is left of 3900.
	_, err = f.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), DesiredCount: aws.Int32(3)})
	require.NoError(t, err)
	require.NoError(t, f.api.ReconcileServices(ctx))
	assert.Len(t, serviceTaskList(t, f, "api"), 2)
	assert.Contains(t, serviceEvents(t, f, "api"), "(service api) was unable to place a task because no container instance met all of its requirements. "+
		"Reason: The closest matching (container-instance "+instance[strings.LastIndex(instance, "/")+1:]+") has insufficient memory available.")

	// Reconciling again changes nothing and writes no second event
	// within the rate limit.
	before := serviceEvents(t, f, "api")
	require.NoError(t, f.api.ReconcileServices(ctx))
	assert.Equal(t, before, serviceEvents(t, f, "api"))

	// Scaled to 0 and deleted, the service stops its tasks.
	_, err = f.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), Force: aws.Bool(true)})
	require.NoError(t, err)
	require.NoError(t, f.api.ReconcileServices(ctx))
	assert.Empty(t, serviceTaskList(t, f, "api"), "every task asked to stop")
	assert.Contains(t, serviceEvents(t, f, "api"), "(service api) has stopped 2 running tasks:")
}

// A DAEMON service's task is placed before a REPLICA service's on an
// instance, and replica placement leaves room for the DAEMON task an
// instance still has to run.
func TestDaemonTasksComeFirstAndHaveRoomKept(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	instance := withInstance(t, f)
	// Created first, the replica service would take both 1500 MiB slots
	// if it were placed first.
	_, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("app"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2)})
	require.NoError(t, err)
	_, err = f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("logs"),
		TaskDefinition: aws.String("web"), SchedulingStrategy: types.SchedulingStrategyDaemon})
	require.NoError(t, err)

	// Before any task exists, replica placement sees the DAEMON's need
	// held on the instance.
	require.NoError(t, f.api.o.Store.View(func(tx store.Tx) error {
		instances, err := tx.Instances("svc")
		require.NoError(t, err)
		held, err := f.api.reserveForDaemons(tx, "svc", "app", placementInstances(instances, nil))
		require.NoError(t, err)
		require.Len(t, held, 1)
		assert.Equal(t, 1500, held[0].Used.MemoryMiB)
		none, err := f.api.reserveForDaemons(tx, "svc", "logs", placementInstances(instances, nil))
		require.NoError(t, err)
		assert.Zero(t, none[0].Used.MemoryMiB, "a DAEMON service holds no room for itself")
		return nil
	}))

	require.NoError(t, f.api.ReconcileServices(ctx))
	daemon := serviceTaskList(t, f, "logs")
	require.Len(t, daemon, 1)
	assert.Equal(t, instance, aws.ToString(daemon[0].ContainerInstanceArn))
	assert.Len(t, serviceTaskList(t, f, "app"), 1, "what is left holds one replica task")
	assert.Contains(t, serviceEvents(t, f, "app"), "insufficient memory available")
}

// A task orphaned on an instance deregistered with force is forgotten and
// replaced on another instance, without counting as a failure.
func TestServiceReplacesTasksOrphanedByForcedDeregistration(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	first := withInstance(t, f)
	_, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)})
	require.NoError(t, err)
	require.NoError(t, f.api.ReconcileServices(ctx))
	require.Len(t, serviceTaskList(t, f, "api"), 1)

	_, err = f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("svc"),
		ContainerInstance: aws.String(first), Force: aws.Bool(true)})
	require.NoError(t, err)
	second := withInstance(t, f)
	require.NotEqual(t, first, second)
	require.NoError(t, f.api.ReconcileServices(ctx))

	var onSecond int
	for _, task := range serviceTaskList(t, f, "api") {
		if aws.ToString(task.ContainerInstanceArn) == second {
			onSecond++
		}
	}
	assert.Equal(t, 1, onSecond, "a replacement on the live instance")
	require.NoError(t, f.api.o.Store.View(func(tx store.Tx) error {
		svc, err := tx.Service("svc", "api")
		require.NoError(t, err)
		assert.Zero(t, svc.StartFailures)
		assert.Len(t, svc.Tasks, 1, "the orphan is no longer tracked")
		return nil
	}))
}

// forceNewDeployment starts a new deployment of the same revision, which
// replaces every task; ListTasks finds a service's tasks by name or ARN.
func TestForceNewDeploymentReplacesTasks(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	withInstance(t, f)
	created, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("api"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(1)})
	require.NoError(t, err)
	require.NoError(t, f.api.ReconcileServices(ctx))
	first := serviceTaskList(t, f, "api")
	require.Len(t, first, 1)
	byARN, err := f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("svc"), ServiceName: created.Service.ServiceArn})
	require.NoError(t, err)
	assert.Equal(t, []string{aws.ToString(first[0].TaskArn)}, byARN.TaskArns)

	// The task has been running a while: it is healthy, and stays until
	// its replacement is.
	require.NoError(t, f.api.o.Store.Update(func(tx store.Tx) error {
		id := aws.ToString(first[0].TaskArn)
		task, err := tx.Task("svc", id[strings.LastIndex(id, "/")+1:])
		require.NoError(t, err)
		began := time.Now().Add(-time.Minute)
		task.LastStatus, task.StartedAt = store.TaskRunning, &began
		return tx.PutTask(task)
	}))

	updated, err := f.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("api"), ForceNewDeployment: true})
	require.NoError(t, err)
	require.Len(t, updated.Service.Deployments, 2)
	assert.Equal(t, aws.ToString(updated.Service.Deployments[1].TaskDefinition), aws.ToString(updated.Service.Deployments[0].TaskDefinition))
	require.NoError(t, f.api.ReconcileServices(ctx))
	var startedBy []string
	for _, task := range serviceTaskList(t, f, "api") {
		startedBy = append(startedBy, aws.ToString(task.StartedBy))
	}
	assert.ElementsMatch(t, []string{aws.ToString(updated.Service.Deployments[1].Id), aws.ToString(updated.Service.Deployments[0].Id)}, startedBy,
		"the new deployment's task starts next to the old one (maximumPercent 200)")
}
