package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// TestE2EKillDuringCleanup kills the agent with kill -9 in the middle of a
// task cleanup (a 1 s cleanup wait), several rounds in a row. Each time
// the agent must start again, on the same container instance, finish the
// cleanup (the task's containers removed, the task forgotten), orphan no
// container, keep the task that runs throughout, and describe-tasks must
// keep showing what it showed before the kill. Before removals were
// atomic, a kill between deleting a task's container records and the task
// left an agent.db the next start refused.
func TestE2EKillDuringCleanup(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1s")
	instances := tc.cp.instances(t, tc.name)
	if len(instances) != 1 {
		t.Fatalf("container instances = %+v, want one", instances)
	}
	instanceARN := instances[0].ContainerInstanceArn

	witness := tc.runOne(t, tc.register(t, taskDef(uniqueName(t)+"-witness", containerDef("main", true, sleeper))))
	witnessID := tc.awaitStatus(t, witness, "RUNNING").container(t, "main").RuntimeID

	names := []string{"a", "b", "c"}
	def := tc.register(t, taskDef(uniqueName(t),
		containerDef("a", true, sleeper), containerDef("b", false, sleeper), containerDef("c", false, sleeper)))
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		// The SDK drives the rounds (the aws CLI costs seconds a call on
		// a busy machine); the aws CLI checks what the user sees.
		arn := tc.runSDK(t, def)
		tc.awaitStatus(t, arn, "RUNNING")
		reason := fmt.Sprintf("e2e: chaos round %d", round)
		// The cleanup starts a second after the STOPPED report was
		// acknowledged and removes the containers one by one before it
		// deletes the task's records: kill the agent as Docker reports
		// the first (odd rounds) or second (even rounds) removal.
		killed := killAtDestroy(t.Context(), tc.agent, arn, 2-round%2)
		if _, err := tc.api.StopTask(context.Background(), &ecs.StopTaskInput{
			Cluster: aws.String(tc.name), Task: aws.String(arn), Reason: aws.String(reason)}); err != nil {
			t.Fatalf("round %d: StopTask: %v", round, err)
		}
		select {
		case err := <-killed:
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(taskStopTimeout + 30*time.Second):
			t.Fatalf("round %d: the agent did not start removing the stopped task's containers", round)
		}
		left := len(containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn))
		t.Logf("round %d: killed the agent with %d of %d containers left", round, left, len(names))
		// What the control plane shows while the agent is down.
		stopped := tc.describe(t, arn)[0]
		if stopped.LastStatus != "STOPPED" || len(stopped.Containers) != len(names) {
			t.Fatalf("round %d: the task was cleaned up before it was reported STOPPED: %s", round, stopped)
		}
		for _, c := range stopped.Containers {
			if c.LastStatus != "STOPPED" || exitCode(c) != "0" {
				t.Errorf("round %d: container %s: %s exit %s, want STOPPED exit 0", round, c.Name, c.LastStatus, exitCode(c))
			}
		}

		tc.agent.start(t)
		if md := tc.agent.awaitMetadata(t); md.ContainerInstanceArn != instanceARN {
			t.Fatalf("round %d: the restarted agent is container instance %s, want %s", round, md.ContainerInstanceArn, instanceARN)
		}
		waitFor(t, 30*time.Second, "the restarted agent to finish the cleanup", func() bool {
			return len(containersWithLabel(t, "com.amazonaws.ecs.task-arn", arn)) == 0
		})
		waitFor(t, 30*time.Second, "the restarted agent to forget the cleaned-up task", func() bool {
			return tc.agent.introspect(t, "/v1/tasks?taskarn="+arn, nil) == http.StatusNotFound
		})
		if after := tc.describe(t, arn)[0]; !reflect.DeepEqual(after, stopped) {
			t.Errorf("round %d: describe-tasks changed across the kill:\nbefore %s\nafter  %s", round, stopped, after)
		}
		if stopped.StoppedReason != reason {
			t.Errorf("round %d: stoppedReason = %q, want %q", round, stopped.StoppedReason, reason)
		}
		w, _ := tc.describeSDK(t, witness)
		if w.LastStatus != "RUNNING" || w.container(t, "main").RuntimeID != witnessID {
			t.Errorf("round %d: the running task changed: %s", round, w)
		}
		if st, ok := inspectContainer(t, witnessID); !ok || !st.State.Running {
			t.Errorf("round %d: the running task's container is not running", round)
		}
	}

	if got := containersWithLabel(t, "com.amazonaws.ecs.cluster", tc.name); !reflect.DeepEqual(got, []string{witnessID}) {
		t.Errorf("containers of the cluster = %v, want only the running task's %s: orphans", got, witnessID)
	}
	if list := tc.cp.instances(t, tc.name); len(list) != 1 || list[0].ContainerInstanceArn != instanceARN {
		t.Errorf("container instances = %+v, want only %s", list, instanceARN)
	}
	if out := tc.agent.proc.out.String(); strings.Contains(out, "dropping a stored task") {
		t.Errorf("the agent found a half-removed task:\n%s", out)
	}

	tc.stopTask(t, witness, "e2e: done")
	tc.awaitStatus(t, witness, "STOPPED")
	waitFor(t, 30*time.Second, "every container of the cluster to be removed", func() bool {
		return len(containersWithLabel(t, "com.amazonaws.ecs.cluster", tc.name)) == 0
	})
}

// runSDK runs one task of taskDef with the SDK and returns its ARN.
func (tc *taskCluster) runSDK(t *testing.T, taskDef string) string {
	t.Helper()
	out, err := tc.api.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String(tc.name), TaskDefinition: aws.String(taskDef)})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask %s: %v (%+v)", taskDef, err, out)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}

// killAtDestroy kills the agent with SIGKILL the moment Docker reports the
// n-th removal of a container of task arn, and then sends on the returned
// channel. Docker's event stream is pushed, so the kill lands within
// milliseconds, well inside a cleanup; --since replays what happened while
// the stream was being set up.
func killAtDestroy(ctx context.Context, a *agent, arn string, n int) <-chan error {
	done := make(chan error, 1)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, taskStopTimeout+30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", "events", "--since", since, "--format", "{{.Actor.ID}}",
			"--filter", "type=container", "--filter", "event=destroy",
			"--filter", "label=com.amazonaws.ecs.task-arn="+arn)
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			done <- fmt.Errorf("docker events: %w", err)
			return
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := bufio.NewScanner(out)
		for seen := 0; seen < n; seen++ {
			if !lines.Scan() {
				done <- fmt.Errorf("docker events ended after %d removals of %s's containers: %v", seen, arn, lines.Err())
				return
			}
		}
		_ = a.proc.cmd.Process.Kill()
		<-a.proc.done
		done <- nil
	}()
	return done
}
