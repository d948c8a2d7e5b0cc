package ecsapi

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectedInstance registers an instance with 2048 CPU, 3900 MiB and port
// 22 in cluster (created if needed) and marks its agent connected.
func connectedInstance(t *testing.T, f *fixture, cluster, ec2ID string) string {
	t.Helper()
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
	require.NoError(t, err)
	in := sdkRegisterInput(cluster)
	in.InstanceIdentityDocument = aws.String(fmt.Sprintf(`{"instanceId":%q,"availabilityZone":"us-east-1a"}`, ec2ID))
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	return arn
}

// appDef has one essential container reserving 256 CPU and 1500 MiB.
func appDef(family string, hostPort int32) *ecs.RegisterTaskDefinitionInput {
	c := types.ContainerDefinition{
		Name: aws.String("main"), Image: aws.String("busybox"), Cpu: 256, Memory: aws.Int32(1500),
	}
	if hostPort != 0 {
		c.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(hostPort)}}
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{c}}
}

func remaining(t *testing.T, f *fixture, cluster, arn, name string) int32 {
	t.Helper()
	d, err := f.ecs.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	require.NoError(t, err)
	for _, r := range d.ContainerInstances[0].RemainingResources {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue
		}
	}
	t.Fatalf("no remaining %s", name)
	return 0
}

func describeTask(t *testing.T, f *fixture, cluster, arn string) types.Task {
	t.Helper()
	d, err := f.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{
		Cluster: aws.String(cluster), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
	require.NoError(t, err)
	require.Len(t, d.Tasks, 1)
	return d.Tasks[0]
}

func TestTaskLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))

	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String("c"), TaskDefinition: aws.String("app"), Count: aws.Int32(3),
		StartedBy: aws.String("me"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 2, "3900 MiB holds two tasks of 1500")
	assert.Equal(t, []types.Failure{{Arn: aws.String(inst), Reason: aws.String("RESOURCE:MEMORY")}}, run.Failures)
	first, second := run.Tasks[0], run.Tasks[1]
	assert.Regexp(t, `^arn:aws:ecs:us-east-1:123456789012:task/c/[0-9a-f]{32}$`, aws.ToString(first.TaskArn))
	assert.Equal(t, "PENDING", aws.ToString(first.LastStatus))
	assert.Equal(t, "RUNNING", aws.ToString(first.DesiredStatus))
	assert.Equal(t, "family:app", aws.ToString(first.Group))
	assert.Equal(t, "me", aws.ToString(first.StartedBy))
	assert.Equal(t, inst, aws.ToString(first.ContainerInstanceArn))
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1", aws.ToString(first.TaskDefinitionArn))
	assert.Equal(t, types.LaunchTypeEc2, first.LaunchType)
	assert.Equal(t, "us-east-1a", aws.ToString(first.AvailabilityZone))
	require.Len(t, first.Containers, 1)
	assert.Equal(t, "main", aws.ToString(first.Containers[0].Name))
	assert.Equal(t, "1500", aws.ToString(first.Containers[0].Memory))
	assert.Equal(t, "main", aws.ToString(first.Overrides.ContainerOverrides[0].Name))
	assert.WithinDuration(t, time.Now(), aws.ToTime(first.CreatedAt), time.Minute)

	assert.EqualValues(t, 900, remaining(t, f, "c", inst, "MEMORY"))
	assert.EqualValues(t, 2048-512, remaining(t, f, "c", inst, "CPU"))
	d, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("c"), ContainerInstances: []string{inst}})
	require.NoError(t, err)
	assert.EqualValues(t, 2, d.ContainerInstances[0].PendingTasksCount)
	dc, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}})
	require.NoError(t, err)
	assert.EqualValues(t, 2, dc.Clusters[0].PendingTasksCount)
	assert.EqualValues(t, 0, dc.Clusters[0].RunningTasksCount)

	list, err := f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c"), Family: aws.String("app"), StartedBy: aws.String("me")})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{aws.ToString(first.TaskArn), aws.ToString(second.TaskArn)}, list.TaskArns)
	list, err = f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c"), Family: aws.String("other")})
	require.NoError(t, err)
	assert.Empty(t, list.TaskArns)

	// The agent reports the first task running, then its essential container exiting.
	pulled := float64(time.Now().Add(-time.Second).UnixMilli()) / 1000
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String("c"), Task: first.TaskArn, Status: aws.String("RUNNING"),
		PullStartedAt: aws.Time(time.UnixMilli(int64(pulled * 1000))),
		Containers: []types.ContainerStateChange{{
			ContainerName: aws.String("main"), RuntimeId: aws.String("docker-1"), Status: aws.String("RUNNING"),
			NetworkBindings: []types.NetworkBinding{{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(32768), Protocol: types.TransportProtocolTcp}},
		}},
	})
	require.NoError(t, err)
	got := describeTask(t, f, "c", aws.ToString(first.TaskArn))
	assert.Equal(t, "RUNNING", aws.ToString(got.LastStatus))
	assert.NotNil(t, got.StartedAt)
	assert.NotNil(t, got.PullStartedAt)
	assert.Equal(t, "docker-1", aws.ToString(got.Containers[0].RuntimeId))
	assert.Equal(t, "RUNNING", aws.ToString(got.Containers[0].LastStatus))
	assert.EqualValues(t, 32768, aws.ToInt32(got.Containers[0].NetworkBindings[0].HostPort))
	assert.Equal(t, "v", aws.ToString(got.Tags[0].Value))

	ack, err := f.ecs.SubmitContainerStateChange(ctx, &ecs.SubmitContainerStateChangeInput{
		Cluster: aws.String("c"), Task: first.TaskArn, ContainerName: aws.String("main"),
		Status: aws.String("STOPPED"), ExitCode: aws.Int32(3), Reason: aws.String("exited"),
	})
	require.NoError(t, err)
	assert.Equal(t, "ACK", aws.ToString(ack.Acknowledgment))
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String("c"), Task: first.TaskArn, Status: aws.String("STOPPED"), Reason: aws.String("agent words"),
	})
	require.NoError(t, err)
	got = describeTask(t, f, "c", aws.ToString(first.TaskArn))
	assert.Equal(t, "STOPPED", aws.ToString(got.LastStatus))
	assert.Equal(t, "STOPPED", aws.ToString(got.DesiredStatus))
	assert.Equal(t, "Essential container in task exited", aws.ToString(got.StoppedReason))
	assert.Equal(t, types.TaskStopCodeEssentialContainerExited, got.StopCode)
	assert.EqualValues(t, 3, aws.ToInt32(got.Containers[0].ExitCode))
	assert.NotNil(t, got.StoppedAt)
	assert.EqualValues(t, 2400, remaining(t, f, "c", inst, "MEMORY"), "a STOPPED task releases its memory")

	// A late RUNNING report does not undo STOPPED.
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String("c"), Task: first.TaskArn, Status: aws.String("RUNNING")})
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", aws.ToString(describeTask(t, f, "c", aws.ToString(first.TaskArn)).LastStatus))

	// StopTask: desired STOPPED now, lastStatus follows the agent.
	stop, err := f.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: second.TaskArn, Reason: aws.String("done")})
	require.NoError(t, err)
	assert.Equal(t, "STOPPED", aws.ToString(stop.Task.DesiredStatus))
	assert.Equal(t, "PENDING", aws.ToString(stop.Task.LastStatus))
	assert.NotNil(t, stop.Task.StoppingAt)
	assert.EqualValues(t, 2400, remaining(t, f, "c", inst, "MEMORY"), "held until the agent reports STOPPED")
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String("c"), Task: second.TaskArn, Status: aws.String("STOPPED"), Reason: aws.String("agent words")})
	require.NoError(t, err)
	got = describeTask(t, f, "c", aws.ToString(second.TaskArn))
	assert.Equal(t, "done", aws.ToString(got.StoppedReason))
	assert.Equal(t, types.TaskStopCodeUserInitiated, got.StopCode)
	assert.EqualValues(t, 3900, remaining(t, f, "c", inst, "MEMORY"))

	list, err = f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c"), DesiredStatus: types.DesiredStatusStopped, ContainerInstance: aws.String(inst)})
	require.NoError(t, err)
	assert.Len(t, list.TaskArns, 2)
	list, err = f.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c")})
	require.NoError(t, err)
	assert.Empty(t, list.TaskArns)

	missing, err := f.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"0123"}})
	require.NoError(t, err)
	assert.Equal(t, "MISSING", aws.ToString(missing.Failures[0].Reason))
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:task/c/0123", aws.ToString(missing.Failures[0].Arn))
}

func TestRunTaskPlacement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := connectedInstance(t, f, "p", "i-a")
	b := connectedInstance(t, f, "p", "i-b")
	register(t, f, appDef("web", 8080))

	// A static host port fits once per instance.
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("web"), Count: aws.Int32(3)})
	require.NoError(t, err)
	var placed []string
	for _, tk := range run.Tasks {
		placed = append(placed, aws.ToString(tk.ContainerInstanceArn))
	}
	assert.ElementsMatch(t, []string{a, b}, placed)
	assert.ElementsMatch(t, []types.Failure{
		{Arn: aws.String(a), Reason: aws.String("RESOURCE:PORTS")},
		{Arn: aws.String(b), Reason: aws.String("RESOURCE:PORTS")},
	}, run.Failures)

	register(t, f, appDef("small", 0))
	run, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("small"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf,
			Expression: aws.String("ec2InstanceId == i-b")}},
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}},
	})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	assert.Equal(t, b, aws.ToString(run.Tasks[0].ContainerInstanceArn))

	run, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("small"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf,
			Expression: aws.String("attribute:ecs.instance-type == p4d.24xlarge")}}})
	require.NoError(t, err)
	assert.Empty(t, run.Tasks)
	assert.Equal(t, "MemberOf placement constraint unsatisfied.", aws.ToString(run.Failures[0].Reason))

	require.NoError(t, f.api.SetAgentConnected(ctx, a, false))
	require.NoError(t, f.api.SetAgentConnected(ctx, b, false))
	run, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("p"), TaskDefinition: aws.String("small")})
	require.NoError(t, err)
	assert.Empty(t, run.Tasks)
	assert.Equal(t, "AGENT", aws.ToString(run.Failures[0].Reason))
}

func TestStartTask(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := connectedInstance(t, f, "s", "i-s")
	register(t, f, appDef("job", 0))
	out, err := f.ecs.StartTask(ctx, &ecs.StartTaskInput{
		Cluster: aws.String("s"), TaskDefinition: aws.String("job:1"),
		ContainerInstances: []string{inst, "ffffffffffffffffffffffffffffffff", inst, inst},
		Group:              aws.String("batch"),
	})
	require.NoError(t, err)
	require.Len(t, out.Tasks, 2)
	assert.Equal(t, "batch", aws.ToString(out.Tasks[0].Group))
	assert.Equal(t, []types.Failure{
		{Arn: aws.String("arn:aws:ecs:us-east-1:123456789012:container-instance/s/ffffffffffffffffffffffffffffffff"), Reason: aws.String("MISSING")},
		{Arn: aws.String(inst), Reason: aws.String("RESOURCE:MEMORY")},
	}, out.Failures)
}

func TestTaskErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("nope"), TaskDefinition: aws.String("x")})
	requireAPIError(t, err, CodeClusterNotFound)

	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("e")})
	require.NoError(t, err)
	register(t, f, appDef("app", 0))
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "No Container Instances")

	connectedInstance(t, f, "e", "i-e")
	for _, tc := range []struct {
		in   *ecs.RunTaskInput
		code string
		word string
	}{
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("missing")}, CodeClientException, "missing"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app:9")}, CodeClientException, "app:9"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app"), Count: aws.Int32(11)}, CodeInvalidParameter, "count"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app"),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}}, CodeInvalidParameter, "binpack"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app"),
			PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}}, CodeInvalidParameter, "expression"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("ghost")}}}}, CodeInvalidParameter, "ghost"},
		{&ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app"), LaunchType: types.LaunchTypeFargate}, CodeInvalidParameter, "launchType"},
	} {
		_, err := f.ecs.RunTask(ctx, tc.in)
		requireAPIErrorMentions(t, err, tc.code, tc.word)
	}

	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("app:1")})
	require.NoError(t, err)
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("e"), TaskDefinition: aws.String("app:1")})
	requireAPIErrorMentions(t, err, CodeClientException, "inactive")

	_, err = f.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("e"), Task: aws.String("0123")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "not found")
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("e"), Task: aws.String("0123"), Status: aws.String("RUNNING")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "not found")
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("e"), Task: aws.String("0123"), Status: aws.String("DONE")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "status")
}

func TestRunTaskOverridesChangeReservation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := connectedInstance(t, f, "o", "i-o")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("o"), TaskDefinition: aws.String("app"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("main"), Memory: aws.Int32(100)}}}})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	assert.EqualValues(t, 3800, remaining(t, f, "o", inst, "MEMORY"))
	assert.EqualValues(t, 100, aws.ToInt32(run.Tasks[0].Overrides.ContainerOverrides[0].Memory))
}

// Concurrent RunTasks cannot oversubscribe an instance: placement and the
// task writes share one transaction.
func TestConcurrentRunTasksRespectResources(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "r", "i-r")
	register(t, f, appDef("app", 0))
	var wg sync.WaitGroup
	placed := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("r"), TaskDefinition: aws.String("app")})
			if assert.NoError(t, err) {
				placed <- len(out.Tasks)
			}
		}()
	}
	wg.Wait()
	close(placed)
	total := 0
	for n := range placed {
		total += n
	}
	assert.Equal(t, 2, total, "3900 MiB holds two tasks of 1500 MiB")
}

func TestListTasksPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "l", "i-l")
	small := appDef("tiny", 0)
	small.ContainerDefinitions[0].Memory = aws.Int32(10)
	register(t, f, small)
	var want []string
	for range 2 {
		out, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("l"), TaskDefinition: aws.String("tiny"), Count: aws.Int32(3)})
		require.NoError(t, err)
		for _, tk := range out.Tasks {
			want = append(want, aws.ToString(tk.TaskArn))
		}
	}
	var got []string
	in := &ecs.ListTasksInput{Cluster: aws.String("l"), MaxResults: aws.Int32(4)}
	pages := 0
	for {
		out, err := f.ecs.ListTasks(ctx, in)
		require.NoError(t, err)
		got = append(got, out.TaskArns...)
		pages++
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	assert.Equal(t, 2, pages)
	assert.ElementsMatch(t, want, got)
}

func TestDeregisterInstanceWithTasksNeedsForce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inst := connectedInstance(t, f, "d", "i-d")
	register(t, f, appDef("app", 0))
	_, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("d"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	_, err = f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("d"), ContainerInstance: aws.String(inst)})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "running tasks", "force")
	out, err := f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("d"), ContainerInstance: aws.String(inst), Force: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "INACTIVE", aws.ToString(out.ContainerInstance.Status))
}

// The wire shape carries the ECS members only: epoch-second timestamps and
// none of the control plane's bookkeeping.
func TestDescribeTasksWireShape(t *testing.T) {
	f := newFixture(t)
	connectedInstance(t, f, "w", "i-w")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("w"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	resp := rawCall(t, f.srv.URL, "DescribeTasks", `{"cluster":"w","tasks":["`+aws.ToString(run.Tasks[0].TaskArn)+`"]}`, true)
	require.Equal(t, 200, resp.status, string(resp.raw))
	task := resp.body["tasks"].([]any)[0].(map[string]any)
	for _, internal := range []string{"id", "cluster", "family", "revision", "reserved", "delivery"} {
		assert.NotContains(t, task, internal)
	}
	assert.IsType(t, float64(0), task["createdAt"])
	container := task["containers"].([]any)[0].(map[string]any)
	assert.NotContains(t, container, "essential")
	assert.Equal(t, []any{}, container["networkBindings"])
}
