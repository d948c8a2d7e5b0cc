package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serviceTimeout bounds a service reaching a state that needs tasks to
// start or stop (and container health, reported over TCS every 20 s).
const serviceTimeout = 3 * time.Minute

// serviceCluster is a control plane reconciling services every second, a
// cluster of its own and one or two agents in it.
type serviceCluster struct {
	*taskCluster
	agents []*agent
}

func startServiceCluster(t *testing.T, agents int) *serviceCluster {
	t.Helper()
	requireTools(t, "docker", "aws")
	requireImage(t, testImage)
	cp := startControlPlaneWith(t, nil, func(cp *controlPlane) { cp.args = append(cp.args, "-service-interval", "1s") })
	tc := &taskCluster{cp: cp, name: uniqueName(t), defsDir: t.TempDir()}
	tc.api = newECSAPI(cp)
	cp.createCluster(t, tc.name)
	t.Cleanup(func() { removeClusterContainers(t, tc.name) })
	sc := &serviceCluster{taskCluster: tc}
	for range agents {
		a := newAgent(t, cp, tc.name)
		a.start(t)
		md := a.awaitMetadata(t)
		sc.awaitConnected(t, md.ContainerInstanceArn)
		sc.agents = append(sc.agents, a)
	}
	tc.agent = sc.agents[0]
	return sc
}

func (sc *serviceCluster) awaitConnected(t *testing.T, arn string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the agent of "+arn+" to connect", func() bool {
		out, err := sc.api.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String(sc.name), ContainerInstances: []string{arn}})
		return err == nil && len(out.ContainerInstances) == 1 && out.ContainerInstances[0].AgentConnected
	})
}

// createService runs `aws ecs create-service` with the cluster and args.
func (sc *serviceCluster) createService(t *testing.T, name, taskDef string, args ...string) {
	t.Helper()
	full := append([]string{"ecs", "create-service", "--cluster", sc.name, "--service-name", name, "--task-definition", taskDef}, args...)
	awsJSON(t, sc.cp.endpoint, sc.cp.cliEnv(), nil, full...)
}

func (sc *serviceCluster) cli(t *testing.T, args ...string) {
	t.Helper()
	awsJSON(t, sc.cp.endpoint, sc.cp.cliEnv(), nil, append(args, "--cluster", sc.name)...)
}

func (sc *serviceCluster) service(t *testing.T, name string) types.Service {
	t.Helper()
	out, err := sc.api.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(sc.name), Services: []string{name}})
	require.NoError(t, err)
	require.Len(t, out.Services, 1, "failures: %+v", out.Failures)
	return out.Services[0]
}

// awaitService polls DescribeServices until cond holds.
func (sc *serviceCluster) awaitService(t *testing.T, name, what string, cond func(types.Service) bool) types.Service {
	t.Helper()
	var last types.Service
	deadline := time.Now().Add(serviceTimeout)
	for {
		last = sc.service(t, name)
		if cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; service: %s", serviceTimeout, what, describeService(last))
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

func describeService(s types.Service) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s desired %d running %d pending %d", aws.ToString(s.Status), s.DesiredCount, s.RunningCount, s.PendingCount)
	for _, d := range s.Deployments {
		fmt.Fprintf(&b, "\n  deployment %s %s %s running %d pending %d failed %d %s %s", aws.ToString(d.Id), aws.ToString(d.Status),
			aws.ToString(d.TaskDefinition), d.RunningCount, d.PendingCount, d.FailedTasks, d.RolloutState, aws.ToString(d.RolloutStateReason))
	}
	for i, e := range s.Events {
		if i == 8 {
			break
		}
		fmt.Fprintf(&b, "\n  event %s", aws.ToString(e.Message))
	}
	return b.String()
}

// steady is what `aws ecs wait services-stable` waits for, and a
// completed rollout.
func steady(s types.Service) bool {
	return len(s.Deployments) == 1 && s.RunningCount == s.DesiredCount && s.PendingCount == 0 &&
		s.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
}

// serviceTasks describes the service's tasks whose desired status is
// RUNNING, through the SDK.
func (sc *serviceCluster) serviceTasks(t *testing.T, name string) []types.Task {
	t.Helper()
	ctx := context.Background()
	list, err := sc.api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(sc.name), ServiceName: aws.String(name)})
	require.NoError(t, err)
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := sc.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(sc.name), Tasks: list.TaskArns})
	require.NoError(t, err)
	return out.Tasks
}

func eventsOf(s types.Service) string {
	var out []string
	for _, e := range s.Events {
		out = append(out, aws.ToString(e.Message))
	}
	return strings.Join(out, "\n")
}

// A service of 3 tasks over two agents reaches a steady state (and `aws
// ecs wait services-stable` says so), with tasks on both instances as the
// default spread strategy places them; a task whose container is killed
// with `docker kill` is replaced.
func TestE2EServiceSteadyAndReplacesKilledTask(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 2)
	def := sc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper)))
	sc.createService(t, "web", def, "--desired-count", "3")
	s := sc.awaitService(t, "web", "a steady state", steady)
	assert.Contains(t, eventsOf(s), "(service web) has reached a steady state.")
	assert.Contains(t, eventsOf(s), "(service web) has started 3 tasks:")
	sc.cli(t, "ecs", "wait", "services-stable", "--services", "web")

	tasks := sc.serviceTasks(t, "web")
	require.Len(t, tasks, 3)
	instances := map[string]int{}
	for _, task := range tasks {
		instances[aws.ToString(task.ContainerInstanceArn)]++
		assert.Equal(t, aws.ToString(s.Deployments[0].Id), aws.ToString(task.StartedBy))
		assert.Equal(t, "service:web", aws.ToString(task.Group))
	}
	assert.Len(t, instances, 2, "spread over both instances: %v", instances)

	victim := aws.ToString(tasks[0].TaskArn)
	ids := containersWithLabel(t, "com.amazonaws.ecs.task-arn", victim)
	require.Len(t, ids, 1)
	require.NoError(t, exec.Command("docker", "kill", ids[0]).Run())
	sc.awaitStatus(t, victim, "STOPPED")
	s = sc.awaitService(t, "web", "the killed task replaced", func(s types.Service) bool {
		if !steady(s) {
			return false
		}
		for _, task := range sc.serviceTasks(t, "web") {
			if aws.ToString(task.TaskArn) == victim {
				return false
			}
		}
		return true
	})
	assert.Equal(t, int32(3), s.RunningCount)
	sc.cli(t, "ecs", "wait", "services-stable", "--services", "web")
}

// A rolling update of a service whose container has a health check never
// has fewer healthy tasks than minimumHealthyPercent allows, and ends with
// the new revision alone, COMPLETED.
func TestE2EServiceRollingUpdateKeepsMinimumHealthy(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 1)
	family := uniqueName(t)
	checked := func(marker string) string {
		c := containerDef("web", true, "echo "+marker+"; "+sleeper)
		c["healthCheck"] = map[string]any{"command": []string{"CMD-SHELL", "true"}, "interval": 5, "timeout": 2, "retries": 1}
		return sc.register(t, taskDef(family, c))
	}
	v1, v2 := checked("v1"), checked("v2")
	sc.createService(t, "web", v1, "--desired-count", "2",
		"--deployment-configuration", "maximumPercent=200,minimumHealthyPercent=100")
	sc.awaitService(t, "web", "v1 steady", steady)

	sc.cli(t, "ecs", "update-service", "--service", "web", "--task-definition", v2)
	lowest := 99
	s := sc.awaitService(t, "web", "v2 rolled out", func(s types.Service) bool {
		healthy := 0
		for _, task := range sc.serviceTasks(t, "web") {
			if aws.ToString(task.LastStatus) == "RUNNING" && task.HealthStatus == types.HealthStatusHealthy {
				healthy++
			}
		}
		// Stopping tasks are listed as desired STOPPED and leave the
		// RUNNING list: count them too while they still run.
		stopping, err := sc.api.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(sc.name),
			ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusStopped})
		require.NoError(t, err)
		if len(stopping.TaskArns) > 0 {
			out, err := sc.api.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(sc.name), Tasks: stopping.TaskArns})
			require.NoError(t, err)
			for _, task := range out.Tasks {
				if aws.ToString(task.LastStatus) == "RUNNING" && task.HealthStatus == types.HealthStatusHealthy {
					healthy++
				}
			}
		}
		lowest = min(lowest, healthy)
		return steady(s) && aws.ToString(s.Deployments[0].TaskDefinition) == v2
	})
	assert.GreaterOrEqual(t, lowest, 2, "healthy tasks never below 100%% of 2")
	assert.Equal(t, v2, aws.ToString(s.TaskDefinition))
	for _, task := range sc.serviceTasks(t, "web") {
		assert.Equal(t, v2, aws.ToString(task.TaskDefinitionArn))
	}
	t.Logf("fewest healthy tasks seen while rolling: %d", lowest)
}

// A revision whose container exits at once trips the deployment circuit
// breaker: the deployment FAILS and the service rolls back to the last
// completed revision.
func TestE2EServiceCircuitBreakerRollsBack(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 1)
	family := uniqueName(t)
	good := sc.register(t, taskDef(family, containerDef("main", true, sleeper)))
	bad := sc.register(t, taskDef(family, containerDef("main", true, "exit 3")))
	sc.createService(t, "web", good, "--desired-count", "2",
		"--deployment-configuration", "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100")
	sc.awaitService(t, "web", "the good revision steady", steady)

	sc.cli(t, "ecs", "update-service", "--service", "web", "--task-definition", bad)
	s := sc.awaitService(t, "web", "the rollback to the good revision", func(s types.Service) bool {
		return steady(s) && aws.ToString(s.TaskDefinition) == good && strings.Contains(eventsOf(s), "deployment failed")
	})
	assert.Contains(t, aws.ToString(s.Deployments[0].RolloutStateReason), "ECS deployment")
	assert.Contains(t, eventsOf(s), "deployment failed: tasks failed to start.")
	assert.Contains(t, eventsOf(s), "rolling back")
	for _, task := range sc.serviceTasks(t, "web") {
		assert.Equal(t, good, aws.ToString(task.TaskDefinitionArn))
	}
}

// Draining an instance moves the service's tasks to the other one, and a
// standalone task on the draining instance is left alone.
func TestE2EServiceDrainingMovesTasks(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 2)
	def := sc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper)))
	sc.createService(t, "web", def, "--desired-count", "2")
	sc.awaitService(t, "web", "a steady state", steady)
	drained := aws.ToString(sc.serviceTasks(t, "web")[0].ContainerInstanceArn)
	standalone, err := sc.api.StartTask(context.Background(), &ecs.StartTaskInput{Cluster: aws.String(sc.name),
		TaskDefinition: aws.String(def), ContainerInstances: []string{drained}})
	require.NoError(t, err)
	require.Len(t, standalone.Tasks, 1)
	alone := aws.ToString(standalone.Tasks[0].TaskArn)
	sc.awaitStatus(t, alone, "RUNNING")

	sc.cli(t, "ecs", "update-container-instances-state", "--container-instances", drained, "--status", "DRAINING")
	sc.awaitService(t, "web", "the tasks moved off the draining instance", func(s types.Service) bool {
		if !steady(s) {
			return false
		}
		for _, task := range sc.serviceTasks(t, "web") {
			if aws.ToString(task.ContainerInstanceArn) == drained {
				return false
			}
		}
		return true
	})
	assert.Equal(t, "RUNNING", sc.describe(t, alone)[0].LastStatus, "the standalone task is left alone")
}

// A control plane killed in the middle of a rollout finishes it once it
// is back: everything the service scheduler needs is persisted.
func TestE2EServiceRolloutSurvivesControlPlaneRestart(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 1)
	family := uniqueName(t)
	v1 := sc.register(t, taskDef(family, containerDef("main", true, sleeper)))
	v2 := sc.register(t, taskDef(family, containerDef("main", true, "echo v2; "+sleeper)))
	sc.createService(t, "web", v1, "--desired-count", "2")
	sc.awaitService(t, "web", "v1 steady", steady)

	sc.cli(t, "ecs", "update-service", "--service", "web", "--task-definition", v2)
	sc.awaitService(t, "web", "the rollout under way", func(s types.Service) bool {
		return len(s.Deployments) == 2 && s.Deployments[0].PendingCount+s.Deployments[0].RunningCount > 0
	})
	sc.cp.proc.stop(t, syscall.SIGKILL)
	sc.cp.restart(t)
	s := sc.awaitService(t, "web", "v2 rolled out after the restart", func(s types.Service) bool {
		return steady(s) && aws.ToString(s.TaskDefinition) == v2
	})
	assert.Equal(t, int32(2), s.RunningCount)
	for _, task := range sc.serviceTasks(t, "web") {
		assert.Equal(t, v2, aws.ToString(task.TaskDefinitionArn))
	}
}

// A DAEMON service runs one task on each instance, and on an instance that
// joins later too.
func TestE2EServiceDaemonCoversJoiningInstance(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 1)
	def := sc.register(t, taskDef(uniqueName(t), containerDef("main", true, sleeper)))
	sc.createService(t, "agentd", def, "--scheduling-strategy", "DAEMON")
	s := sc.awaitService(t, "agentd", "one task on the instance", steady)
	assert.Equal(t, int32(1), s.DesiredCount)

	joiner := newAgent(t, sc.cp, sc.name)
	joiner.start(t)
	md := joiner.awaitMetadata(t)
	sc.awaitService(t, "agentd", "a task on the joining instance too", func(s types.Service) bool {
		if !steady(s) || s.DesiredCount != 2 {
			return false
		}
		for _, task := range sc.serviceTasks(t, "agentd") {
			if aws.ToString(task.ContainerInstanceArn) == md.ContainerInstanceArn {
				return true
			}
		}
		return false
	})
	tasks := sc.serviceTasks(t, "agentd")
	require.Len(t, tasks, 2)
	assert.NotEqual(t, aws.ToString(tasks[0].ContainerInstanceArn), aws.ToString(tasks[1].ContainerInstanceArn))
}

// The README's "Run a service", as a new user types it: create, wait
// until stable, scale, roll out a new revision, delete.
func TestE2EServiceReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	sc := startServiceCluster(t, 1)
	register := func() string {
		var out struct {
			TaskDefinition struct {
				TaskDefinitionArn string `json:"taskDefinitionArn"`
			} `json:"taskDefinition"`
		}
		awsJSON(t, sc.cp.endpoint, sc.cp.cliEnv(), &out, "ecs", "register-task-definition",
			"--cli-input-json", "file://../scripts/examples/hello-web.json")
		return out.TaskDefinition.TaskDefinitionArn
	}
	register()
	sc.createService(t, "web", "hello-web", "--desired-count", "2",
		"--deployment-configuration", "deploymentCircuitBreaker={enable=true,rollback=true}")
	sc.cli(t, "ecs", "wait", "services-stable", "--services", "web")
	assert.Equal(t, int32(2), sc.service(t, "web").RunningCount)

	sc.cli(t, "ecs", "update-service", "--service", "web", "--desired-count", "3")
	sc.cli(t, "ecs", "wait", "services-stable", "--services", "web")
	assert.Equal(t, int32(3), sc.service(t, "web").RunningCount)

	v2 := register()
	require.True(t, strings.HasSuffix(v2, "hello-web:2"), v2)
	sc.cli(t, "ecs", "update-service", "--service", "web", "--task-definition", "hello-web:2")
	sc.cli(t, "ecs", "wait", "services-stable", "--services", "web")
	s := sc.service(t, "web")
	assert.Equal(t, v2, aws.ToString(s.TaskDefinition))
	for _, task := range sc.serviceTasks(t, "web") {
		assert.Equal(t, v2, aws.ToString(task.TaskDefinitionArn))
	}

	sc.cli(t, "ecs", "delete-service", "--service", "web", "--force")
	sc.cli(t, "ecs", "wait", "services-inactive", "--services", "web")
	assert.Empty(t, sc.serviceTasks(t, "web"))
}
