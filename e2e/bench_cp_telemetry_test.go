package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/acs"
	acswire "github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

const (
	benchTelemetryInstances = 10
	benchTelemetryTasksEach = 10 // one TCS message of 10 tasks per instance and round
)

// BenchmarkE2EControlPlaneTelemetryRSS measures the real ecs-controlplane
// holding the telemetry of 100 running tasks: 10 instances, each with an ACS
// session that acknowledges its payloads, and a TCS session publishing
// metrics (one container per task), health and instance status as an agent
// does. An iteration is one publish round of every instance (10 signed
// frames of 10 tasks, verified, stored and acknowledged). It reports the
// control plane's RSS before any telemetry and after, and the series
// /metrics then has.
func BenchmarkE2EControlPlaneTelemetryRSS(b *testing.B) {
	requireTools(b)
	cp := startControlPlane(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := newECSAPI(cp)
	cluster := "cp-telemetry-bench"
	if _, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		b.Fatal(err)
	}
	var instances []string
	for range benchTelemetryInstances {
		reg, err := api.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(cluster),
			TotalResources: []types.Resource{
				{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 4096},
				{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 8192},
			}})
		if err != nil {
			b.Fatal(err)
		}
		arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
		instances = append(instances, arn)
		fakeACSAgent(ctx, b, cp, cluster, arn)
	}
	waitFor(b, 30*time.Second, "every instance connected", func() bool {
		out, err := api.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: instances})
		if err != nil {
			return false
		}
		for _, ci := range out.ContainerInstances {
			if !ci.AgentConnected {
				return false
			}
		}
		return true
	})
	if _, err := api.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("bench-app"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(testImage), Cpu: 16, Memory: aws.Int32(32)}}}); err != nil {
		b.Fatal(err)
	}
	byInstance := map[string][]string{}
	for range benchTelemetryInstances * benchTelemetryTasksEach / benchRunTaskMax {
		run, err := api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("bench-app"),
			Count: aws.Int32(benchRunTaskMax), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
		if err != nil || len(run.Tasks) != benchRunTaskMax {
			b.Fatalf("run-task: %v %+v", err, run)
		}
		for _, t := range run.Tasks {
			arn := aws.ToString(t.ContainerInstanceArn)
			byInstance[arn] = append(byInstance[arn], aws.ToString(t.TaskArn))
		}
	}
	before := vmRSSKB(b, cp.proc.cmd.Process.Pid)

	var sessions []*tcsClient
	for _, inst := range instances {
		c, status, body := dialTCS(b, cp, testCreds, cluster, inst)
		if c == nil {
			b.Fatalf("TCS handshake: %d %s", status, body)
		}
		sessions = append(sessions, c)
	}
	round := 0
	for b.Loop() {
		round++
		for i, c := range sessions {
			for _, msg := range benchPublish(cluster, instances[i], byInstance[instances[i]], round) {
				if _, ok := c.send(c.frame(msg)).(wire.Message); !ok {
					b.Fatal("no answer")
				}
			}
		}
	}
	b.StopTimer()
	after := vmRSSKB(b, cp.proc.cmd.Process.Pid)
	series := strings.Count(scrapeControlPlane(b, cp), "ecs_container_cpu_utilization_percent{")
	if series != benchTelemetryInstances*benchTelemetryTasksEach {
		b.Fatalf("/metrics has %d containers' CPU, want %d", series, benchTelemetryInstances*benchTelemetryTasksEach)
	}
	b.ReportMetric(float64(before)/1024, "RSS-before-MiB")
	b.ReportMetric(float64(after)/1024, "RSS-100-tasks-MiB")
	b.ReportMetric(float64(series), "container-series")
	b.ReportMetric(hostLoad(), "host-load1")
}

// fakeACSAgent keeps an ACS session for the instance that acknowledges
// every payload, so the control plane places tasks on it and stops
// resending them.
func fakeACSAgent(ctx context.Context, b *testing.B, cp *controlPlane, cluster, instance string) {
	var sess *acs.Session
	sess = acs.NewSession(acs.Options{
		DiscoverEndpoint: func(context.Context) (string, error) { return cp.endpoint, nil },
		Cluster:          cluster, ContainerInstanceARN: instance,
		AgentVersion: "bench", AgentHash: "bench", DockerVersion: "20.10.24", Region: "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(testCreds.accessKey, testCreds.secretKey, ""),
		Handler: func(ctx context.Context, msg any) {
			if p, ok := msg.(*acswire.PayloadMessage); ok {
				ack := &acswire.AckRequest{Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID}
				go func() { _ = sess.Send(ctx, ack) }()
			}
		},
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Run(ctx)
	}()
	b.Cleanup(func() { <-done }) // the benchmark's context ends first
}

// benchPublish is one publish round of an instance, as an agent sends it.
func benchPublish(cluster, instance string, tasks []string, round int) []wire.Message {
	now := wire.At(time.Now())
	set := func(v float64) *wire.CWStatsSet {
		return &wire.CWStatsSet{Min: v, Max: v, Sum: 20 * v, SampleCount: 20}
	}
	metrics := &wire.PublishMetricsRequest{
		Metadata:  &wire.MetricsMetadata{Cluster: cluster, ContainerInstance: instance, MessageID: uuid.NewString(), Fin: true},
		Timestamp: now,
	}
	health := &wire.PublishHealthRequest{
		Metadata:  &wire.HealthMetadata{Cluster: cluster, ContainerInstance: instance, MessageID: uuid.NewString(), Fin: true},
		Timestamp: now,
	}
	for i, arn := range tasks {
		metrics.TaskMetrics = append(metrics.TaskMetrics, wire.TaskMetric{TaskARN: arn, ClusterARN: cluster,
			TaskDefinitionFamily: "bench-app", TaskDefinitionVersion: "1",
			ContainerMetrics: []wire.ContainerMetric{{ContainerName: "app", CPUStatsSet: set(float64(i + round%7)), MemoryStatsSet: set(24),
				NetworkStatsSet: &wire.NetworkStatsSet{RxBytes: &wire.ULongStatsSet{Sum: 1500, SampleCount: 20}, TxBytes: &wire.ULongStatsSet{Sum: 700, SampleCount: 20}}}}})
		health.Tasks = append(health.Tasks, wire.TaskHealth{TaskARN: arn, ClusterARN: cluster,
			Containers: []wire.ContainerHealth{{ContainerName: "app", HealthStatus: wire.HealthStatusHealthy, StatusSince: now}}})
	}
	status := &wire.PublishInstanceStatusRequest{
		Metadata: &wire.InstanceStatusMetadata{Cluster: cluster, ContainerInstance: instance, RequestID: fmt.Sprint(round)},
		Statuses: []wire.InstanceStatus{
			{Type: "ContainerRuntime", Status: wire.InstanceHealthcheckStatusOk, LastUpdated: now, LastStatusChange: now},
			{Type: "Agent", Status: wire.InstanceHealthcheckStatusOk, LastUpdated: now, LastStatusChange: now},
		},
		Timestamp: now,
	}
	return []wire.Message{metrics, health, status}
}
