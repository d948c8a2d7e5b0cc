package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// The history benchmark measures what stopped tasks kept as history cost
// the control plane: RunTask and DescribeTasks latency and resident memory
// of the real ecs-controlplane binary, once with no history and once with
// 100,000 stopped tasks in its cluster (stopped ten minutes ago, so none is
// pruned during the run). The history is written into controlplane.db with
// the store package while the binary is stopped: running 100,000 tasks
// through the API would take an hour. Two ACS sessions of the agent's own
// client acknowledge every payload; no Docker is involved.
const (
	historyCluster   = "bench"
	historyDef       = "bench"
	historyInstances = 2
	// historyRuns RunTask calls, each followed by three DescribeTasks, so
	// that the describes spread over the whole run (and over the delivery
	// loop's 10 s sweeps).
	historyRuns      = 600
	historyDescribes = 3
)

func BenchmarkE2EControlPlaneHistory(b *testing.B) {
	for _, stopped := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("stopped=%d", stopped), func(b *testing.B) { benchHistory(b, stopped) })
	}
}

func benchHistory(b *testing.B, stopped int) {
	requireTools(b)
	ctx := context.Background()
	cp := startControlPlane(b)
	api := newECSAPI(cp)
	api = ecs.New(api.Options(), func(o *ecs.Options) {
		o.HTTPClient = &http.Client{Transport: ownBodies{http.DefaultTransport}}
		o.Retryer = aws.NopRetryer{} // a retry would hide in the figures
	})
	if _, err := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(historyCluster)}); err != nil {
		b.Fatal(err)
	}
	def, err := api.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(historyDef),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String("ecs-agent-test/busybox:latest"),
			Cpu: 2, Memory: aws.Int32(16), Command: []string{"sleep", "60"},
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	cp.proc.stop(b, syscall.SIGTERM)
	path := filepath.Join(cp.dataDir, "controlplane.db")
	seedStoppedTasks(b, path, aws.ToString(def.TaskDefinition.TaskDefinitionArn), stopped)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	cp.restart(b)
	startup := time.Since(began)

	for i := range historyInstances {
		arn := registerBenchInstance(b, api, i)
		connectAckingAgent(b, cp, arn)
	}
	waitFor(b, 20*time.Second, "the agents' ACS sessions", func() bool {
		out, err := api.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String(historyCluster), ContainerInstances: instanceARNs(b, api)})
		if err != nil {
			b.Fatal(err)
		}
		for _, ci := range out.ContainerInstances {
			if !ci.AgentConnected {
				return false
			}
		}
		return true
	})

	var runTasks, describes, submits []time.Duration
	var recent []string
	step := func(measure bool) {
		t0 := time.Now()
		out, err := api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(historyCluster), TaskDefinition: aws.String(historyDef)})
		d := time.Since(t0)
		if err != nil || len(out.Tasks) != 1 {
			b.Fatalf("RunTask: %v %+v", err, out)
		}
		arn := aws.ToString(out.Tasks[0].TaskArn)
		// Stopped at once, so that live work stays the same in both runs
		// and only the history grows.
		t0 = time.Now()
		if _, err := api.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{
			Cluster: aws.String(historyCluster), Task: aws.String(arn), Status: aws.String("STOPPED"),
			Containers: []types.ContainerStateChange{{ContainerName: aws.String("main"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(0)}},
		}); err != nil {
			b.Fatal(err)
		}
		if measure {
			submits = append(submits, time.Since(t0))
		}
		recent = append(recent, arn)
		if len(recent) > 10 {
			recent = recent[1:]
		}
		if measure {
			runTasks = append(runTasks, d)
		}
		for range historyDescribes {
			t0 := time.Now()
			out, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(historyCluster), Tasks: recent})
			d := time.Since(t0)
			if err != nil || len(out.Tasks) != len(recent) {
				b.Fatalf("DescribeTasks: %v %+v", err, out)
			}
			if measure {
				describes = append(describes, d)
			}
		}
	}
	for range 20 { // warm-up
		step(false)
	}
	runs := historyRuns
	if v := os.Getenv("ECS_BENCH_HISTORY_RUNS"); v != "" {
		// Fewer, for binaries that take seconds per call.
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			b.Fatalf("ECS_BENCH_HISTORY_RUNS=%q: want a positive count", v)
		}
	}
	for b.Loop() {
		for range runs {
			step(true)
		}
	}
	b.StopTimer()
	pid := cp.proc.cmd.Process.Pid
	rss, hwm := procStatusKB(b, pid, "VmRSS"), procStatusKB(b, pid, "VmHWM")
	anon, file := procStatusKB(b, pid, "RssAnon"), procStatusKB(b, pid, "RssFile")
	b.ReportMetric(ms(percentile(runTasks, 50)), "RunTask-p50-ms")
	b.ReportMetric(ms(percentile(runTasks, 99)), "RunTask-p99-ms")
	b.ReportMetric(ms(percentile(describes, 50)), "DescribeTasks-p50-ms")
	b.ReportMetric(ms(percentile(describes, 99)), "DescribeTasks-p99-ms")
	b.ReportMetric(float64(rss)/1024, "RSS-MiB")
	b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
	b.Logf("stopped=%d: file %.1f MiB, start %s, RunTask p50 %.2f ms p99 %.2f ms, DescribeTasks p50 %.2f ms p99 %.2f ms, "+
		"SubmitTaskStateChange p50 %.2f ms p99 %.2f ms, RSS %.1f MiB (anon %.1f, file %.1f; peak %.1f), load %.2f",
		stopped, float64(fi.Size())/(1<<20), startup.Round(time.Millisecond), ms(percentile(runTasks, 50)), ms(percentile(runTasks, 99)),
		ms(percentile(describes, 50)), ms(percentile(describes, 99)), ms(percentile(submits, 50)), ms(percentile(submits, 99)),
		float64(rss)/1024, float64(anon)/1024, float64(file)/1024, float64(hwm)/1024, loadAverage(b))
}

// seedStoppedTasks adds n stopped tasks of def to the bench cluster, shaped
// like those the API writes (a container with a port, every timestamp,
// acknowledged delivery), stopped ten minutes ago.
func seedStoppedTasks(b *testing.B, path, defARN string, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	st, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	prefix := "arn:aws:ecs:us-east-1:000000000000:"
	at := time.Now().Add(-10 * time.Minute).UTC()
	code := 0
	const batch = 2000
	for done := 0; done < n; done += batch {
		err := st.Update(func(tx store.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				// Spread like the random IDs the API makes, so that pages fill
				// as they do in use rather than by appending.
				id := fmt.Sprintf("%016x%016x", uint64(i)*0x9E3779B97F4A7C15, i)
				arn := prefix + "task/" + historyCluster + "/" + id
				task := store.Task{
					ID: id, Cluster: historyCluster, ARN: arn, ClusterARN: prefix + "cluster/" + historyCluster,
					TaskDefinitionARN:    defARN,
					ContainerInstanceARN: prefix + "container-instance/" + historyCluster + "/" + fmt.Sprintf("%032x", i%7),
					LastStatus:           store.TaskStopped, DesiredStatus: store.TaskStopped, Version: 4,
					Group: "family:" + historyDef, Connectivity: "CONNECTED", LaunchType: "EC2", AvailabilityZone: "us-east-1a",
					StoppedReason: "Essential container in task exited", StopCode: store.StopCodeEssentialContainerExited,
					CreatedAt: at.Add(-time.Minute), ConnectivityAt: &at, PullStartedAt: &at, PullStoppedAt: &at, StartedAt: &at,
					ExecutionStoppedAt: &at, StoppingAt: &at, StoppedAt: &at,
					Family: historyDef, Revision: 1, Reserved: store.Reservation{CPU: 2, MemoryMiB: 16},
					Delivery: store.TaskDelivery{MessageID: "00000000-0000-4000-8000-" + id[20:], AckedDesiredStatus: store.TaskStopped, AckedAt: &at},
					Containers: []store.TaskContainer{{
						ContainerARN: prefix + "container/" + historyCluster + "/" + id + "/00000000-0000-4000-8000-000000000000",
						TaskARN:      arn, Name: "main", Image: "ecs-agent-test/busybox:latest", LastStatus: store.TaskStopped,
						RuntimeID: strings.Repeat(id, 2), ExitCode: &code, CPU: "2", Memory: "16", Essential: true,
						NetworkBindings: []store.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 32768 + i%1000, Protocol: "tcp"}},
					}},
				}
				if err := tx.PutTask(task); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func registerBenchInstance(b *testing.B, api *ecs.Client, i int) string {
	b.Helper()
	out, err := api.RegisterContainerInstance(context.Background(), &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String(historyCluster),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 1 << 20},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 1 << 24},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22"}},
		},
		Attributes: []types.Attribute{{Name: aws.String("bench"), Value: aws.String(strconv.Itoa(i))}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.ContainerInstance.ContainerInstanceArn)
}

func instanceARNs(b *testing.B, api *ecs.Client) []string {
	b.Helper()
	out, err := api.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(historyCluster)})
	if err != nil {
		b.Fatal(err)
	}
	return out.ContainerInstanceArns
}

// connectAckingAgent opens the instance's ACS session with the agent's
// client and acknowledges every payload, as an agent that persisted it.
func connectAckingAgent(b *testing.B, cp *controlPlane, arn string) {
	b.Helper()
	api := newECSAPI(cp)
	var sess *acs.Session
	sess = acs.NewSession(acs.Options{
		DiscoverEndpoint: func(ctx context.Context) (string, error) {
			out, err := api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{Cluster: aws.String(historyCluster), ContainerInstance: aws.String(arn)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.Endpoint), nil
		},
		Cluster: historyCluster, ContainerInstanceARN: arn, AgentVersion: "0.1.0", DockerVersion: "20.10.24", Region: "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(testCreds.accessKey, testCreds.secretKey, ""),
		Handler: func(ctx context.Context, msg any) {
			if p, ok := msg.(*wire.PayloadMessage); ok {
				_ = sess.Send(ctx, &wire.AckRequest{Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID})
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Run(ctx)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// ownBodies gives the transport a copy of each request body. The SDK
// closes the body it handed over as soon as the response arrives; the
// transport's final read of a body it already sent then fails, and it
// drops the connection under the response being read ("use of closed
// network connection", aws-sdk-go-v2 #2737). The SDK retries that after a
// backoff of up to a second, which would show up as the p99 here.
type ownBodies struct{ next http.RoundTripper }

func (t ownBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		raw, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	return t.next.RoundTrip(r)
}
