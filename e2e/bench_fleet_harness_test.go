package e2e

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/agent/fleetsim"
	"github.com/open-ecs/ecs-agent/controlplane/acsserver"
)

// The fleet benchmarks' harness: the control plane binary, a cluster with a
// task definition, a fleet of simulated instances in this process, and
// what the control plane says about them.

// fleetBench is the control plane under test and a client for it.
type fleetBench struct {
	b       *testing.B
	cp      *controlPlane
	api     *ecs.Client
	cluster string
	def     string
}

// newFleetBench starts the control plane binary and an SDK client for it.
func newFleetBench(b *testing.B) *fleetBench {
	requireTools(b)
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no agent in this process may look for an instance role
	// The harness's 1 s heartbeat suits tests; a fleet is measured with
	// the production interval, or heartbeats would be most of the cost.
	cp := startControlPlaneWith(b, nil, func(cp *controlPlane) {
		cp.args = append(cp.args, "-heartbeat-interval", acsserver.DefaultHeartbeatInterval.String())
		// E2E_BENCH_CP_ARGS adds flags, as "-metrics-listen 127.0.0.1:6060
		// -pprof" to profile the control plane during a run.
		cp.args = append(cp.args, strings.Fields(os.Getenv("E2E_BENCH_CP_ARGS"))...)
	})
	api := newECSAPI(cp)
	api = ecs.New(api.Options(), func(o *ecs.Options) {
		o.HTTPClient = &http.Client{Transport: ownBodies{http.DefaultTransport}}
		o.Retryer = aws.NopRetryer{} // a retry would hide in the figures
	})
	return &fleetBench{b: b, cp: cp, api: api}
}

// newCluster creates the cluster name and a one-container task definition
// of the same family.
func (fb *fleetBench) newCluster(name string) {
	ctx := context.Background()
	fb.cluster = name
	if _, err := fb.api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		fb.b.Fatal(err)
	}
	fb.def = fb.registerDef(name)
}

func (fb *fleetBench) registerDef(family string) string {
	def, err := fb.api.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("main"), Image: aws.String(fleetImage),
			Cpu: 2, Memory: aws.Int32(16), Essential: aws.Bool(true)}},
	})
	if err != nil {
		fb.b.Fatal(err)
	}
	return aws.ToString(def.TaskDefinition.TaskDefinitionArn)
}

// fleetStart is what starting a fleet took.
type fleetStart struct {
	ready     time.Duration // every agent registered and its ACS session started
	connected time.Duration // every instance shown with agentConnected
	cpu       float64       // the control plane's CPU seconds until connected
	rssKB     int64         // this process's RSS with the fleet running
}

// startFleet starts size instances in the cluster and waits until every one
// is connected; the fleet stops when the benchmark ends.
func (fb *fleetBench) startFleet(size int) (*fleetsim.Fleet, fleetStart) {
	b, pid := fb.b, fb.cp.proc.cmd.Process.Pid
	ctx := context.Background()
	began, cpu0 := time.Now(), cpuTicks(b, pid)
	fleet, err := fleetsim.Start(ctx, fleetsim.Options{
		Endpoint: fb.cp.endpoint, Region: "us-east-1", Cluster: fb.cluster,
		Credentials: awscreds.NewStaticCredentialsProvider(testCreds.accessKey, testCreds.secretKey, ""),
		Size:        size, DataDir: b.TempDir(), Images: []string{fleetImage},
	})
	if err != nil {
		b.Fatal(err)
	}
	st := fleetStart{ready: time.Since(began)}
	b.Cleanup(func() { _ = fleet.Close() }) // a fleet left running by a failed benchmark

	waitFor(b, 5*time.Minute, "every instance's ACS session", func() bool { return fb.connected(ctx) == size })
	st.connected, st.cpu = time.Since(began), cpuSeconds(cpuTicks(b, pid)-cpu0)
	st.rssKB = procStatusKB(b, os.Getpid(), "VmRSS")
	return fleet, st
}

// acsSessions reads the control plane's log: how many ACS sessions of this
// cluster's instances it opened, and why those that ended did.
func (fb *fleetBench) acsSessions() (opened int, ended map[string]int) {
	ended = map[string]int{}
	for _, line := range strings.Split(fb.cp.proc.out.String(), "\n") {
		if !strings.Contains(line, "/"+fb.cluster+"/") {
			continue
		}
		switch {
		case strings.Contains(line, "agent connected to ACS"):
			opened++
		case strings.Contains(line, "agent disconnected from ACS"):
			reason := "?"
			if _, v, ok := strings.Cut(line, " reason="); ok {
				reason, _, _ = strings.Cut(v, " ")
				if q, err := strconv.QuotedPrefix(v); err == nil {
					reason, _ = strconv.Unquote(q)
				}
			}
			ended[reason]++
		}
	}
	return opened, ended
}

// gaugeValue is the value of an unlabelled metric in a Prometheus text scrape.
func gaugeValue(b *testing.B, scrape, name string) float64 {
	b.Helper()
	for _, line := range strings.Split(scrape, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				b.Fatalf("/metrics %s: %v", name, err)
			}
			return v
		}
	}
	b.Fatalf("/metrics has no %s", name)
	return 0
}

// connected counts the cluster's instances whose ACS session is up.
func (fb *fleetBench) connected(ctx context.Context) int {
	n := 0
	pages := ecs.NewListContainerInstancesPaginator(fb.api, &ecs.ListContainerInstancesInput{Cluster: aws.String(fb.cluster)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			fb.b.Fatal(err)
		}
		if len(page.ContainerInstanceArns) == 0 {
			continue
		}
		out, err := fb.api.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
			Cluster: aws.String(fb.cluster), ContainerInstances: page.ContainerInstanceArns})
		if err != nil {
			fb.b.Fatal(err)
		}
		for _, ci := range out.ContainerInstances {
			if ci.AgentConnected {
				n++
			}
		}
	}
	return n
}

// serverP99 reads, from the control plane's latency histogram in a
// /metrics scrape, the bound of the first bucket that holds 99 % of the
// operation's requests: the latency the control plane itself measured,
// without the time the request spent in the benchmark's own process
// (which runs the whole fleet on the same two vCPUs).
func serverP99(b *testing.B, scrape, operation string) float64 {
	b.Helper()
	prefix := `ecs_controlplane_api_request_duration_seconds_bucket{operation="` + operation + `",le="`
	type bucket struct{ le, n float64 }
	var buckets []bucket
	for _, line := range strings.Split(scrape, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			b.Fatalf("/metrics: malformed bucket %q", line)
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(strings.TrimSpace(count), 64)
		if err1 != nil || err2 != nil {
			b.Fatalf("/metrics: malformed bucket %q", line)
		}
		buckets = append(buckets, bucket{bound, n})
	}
	if len(buckets) == 0 {
		b.Fatalf("/metrics has no latency for %s", operation)
	}
	total := buckets[len(buckets)-1].n // le="+Inf"
	for _, bk := range buckets {
		if bk.n >= 0.99*total {
			return bk.le
		}
	}
	return buckets[len(buckets)-1].le
}
