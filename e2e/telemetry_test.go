package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// telemetryTimeout bounds how long a published value takes to show: the
// agent publishes every 20 s, once it has two samples of a container.
const telemetryTimeout = 60 * time.Second

// holdMemory keeps 64 MiB in a shell variable, then sleeps until stopped
// (the loop keeps the shell, and the variable, alive).
const holdMemory = `x=$(head -c 67108864 /dev/zero | tr '\0' x); trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done`

// burnCPU keeps two processes busy until stopped: on a shared test host
// each may get less than a whole CPU, and together they still read as at
// least one busy CPU.
const burnCPU = `trap 'kill $! 2>/dev/null; exit 0' TERM; (while :; do :; done) & while :; do :; done`

// containerSample returns the value of metric for one container of a task
// in the control plane's /metrics, if it is there.
func containerSample(t testing.TB, cp *controlPlane, metric, taskARN, container string) (float64, bool) {
	t.Helper()
	taskID := taskARN[strings.LastIndex(taskARN, "/")+1:]
	for line := range strings.SplitSeq(scrapeControlPlane(t, cp), "\n") {
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, `task_id="`+taskID+`"`) ||
			!strings.Contains(line, `container="`+container+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		require.NoError(t, err, line)
		return v, true
	}
	return 0, false
}

// hostLoad is the 1-minute load average, for failure messages.
func hostLoad() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return v
}

func scrapeControlPlane(t testing.TB, cp *controlPlane) string {
	t.Helper()
	resp, err := http.Get(cp.endpoint + "/metrics")
	if err != nil {
		return "" // restarting
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

// awaitSample waits until the container's metric satisfies ok.
func awaitSample(t testing.TB, cp *controlPlane, metric, taskARN, container string, ok func(float64) bool) float64 {
	t.Helper()
	var last float64
	seen := false
	deadline := time.Now().Add(telemetryTimeout)
	for {
		v, found := containerSample(t, cp, metric, taskARN, container)
		if found && ok(v) {
			return v
		}
		if found {
			last, seen = v, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s of %s in /metrics (last value %v, seen: %v; host load %.1f)",
				telemetryTimeout, metric, container, last, seen, hostLoad())
		}
		time.Sleep(time.Second) // polling interval; the agent publishes every 20 s
	}
}

// A container burning a CPU shows at least 50 % in /metrics within a
// minute, and one holding 64 MiB shows that memory.
//
// The 50 % needs a host that gives the container half a CPU. On a shared
// test host that is too busy for that (the cgroup's own accounting says so),
// the test checks instead that /metrics agrees with what the container
// really used, so it still fails on a wrong figure.
func TestE2ETelemetryCPUAndMemory(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	burn := containerDef("burn", true, burnCPU)
	burn["cpu"] = 1024 // a CPU's worth of shares, not containerDef's 16
	hold := containerDef("hold", true, holdMemory)
	hold["memory"] = 256
	// As many shares as the burner: with containerDef's 16, a busy host
	// starves the shell that builds the 64 MiB string for minutes.
	hold["cpu"] = 1024
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), burn, hold)))
	task := tc.awaitStatus(t, arn, "RUNNING")
	burnID := task.container(t, "burn").RuntimeID

	used0, ok := cgroupCPU(burnID)
	began := time.Now()
	var best float64
	found := false
	for deadline := began.Add(telemetryTimeout); time.Now().Before(deadline) && best < 50; {
		if v, ok := containerSample(t, tc.cp, "ecs_container_cpu_utilization_percent", arn, "burn"); ok {
			best, found = max(best, v), true
		}
		time.Sleep(time.Second) // polling interval; the agent publishes every 20 s
	}
	require.True(t, found, "burn never appeared in /metrics within %s", telemetryTimeout)
	if best < 50 {
		used1, ok1 := cgroupCPU(burnID)
		require.True(t, ok && ok1, "/metrics shows at most %.1f %% and the container's cgroup is not readable", best)
		real := 100 * float64(used1-used0) / float64(time.Since(began))
		require.Less(t, real, 60.0, "the container burned %.1f %% of a CPU, /metrics shows at most %.1f %%", real, best)
		assert.InDelta(t, real, best, real/2+5, "host load %.1f: the container got %.1f %% of a CPU; /metrics must agree", hostLoad(), real)
		t.Logf("host load %.1f gave the burner only %.1f %% of a CPU; /metrics showed up to %.1f %%", hostLoad(), real, best)
	} else {
		t.Logf("burn: %.1f %% of one CPU", best)
	}
	mem := awaitSample(t, tc.cp, "ecs_container_memory_utilized_bytes", arn, "hold", func(v float64) bool { return v >= 60<<20 })
	t.Logf("hold: %.1f MiB", mem/(1<<20))
	body := scrapeControlPlane(t, tc.cp)
	assert.Contains(t, body, `ecs_cluster_cpu_reservation_percent{cluster="`+tc.name+`"}`)
	assert.Contains(t, body, `ecs_controlplane_sessions{protocol="tcs"} 1`)

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
	waitFor(t, telemetryTimeout, "the stopped task's series to go", func() bool {
		_, found := containerSample(t, tc.cp, "ecs_container_cpu_utilization_percent", arn, "burn")
		return !found
	})
}

// cgroupCPU is the CPU time a Docker container has used, from its cgroup
// (cgroup v1 with the cgroupfs driver, or v2 with either driver).
func cgroupCPU(id string) (time.Duration, bool) {
	for _, p := range []string{
		"/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage",
		"/sys/fs/cgroup/cpu,cpuacct/docker/" + id + "/cpuacct.usage",
	} {
		if data, err := os.ReadFile(p); err == nil {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return time.Duration(ns), err == nil
		}
	}
	for _, p := range []string{
		"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.stat",
		"/sys/fs/cgroup/docker/" + id + "/cpu.stat",
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				us, err := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond, err == nil
			}
		}
	}
	return 0, false
}

// healthTask is the part of describe-tasks the health test reads.
type healthTask struct {
	HealthStatus string `json:"healthStatus"`
	Containers   []struct {
		Name         string `json:"name"`
		HealthStatus string `json:"healthStatus"`
	} `json:"containers"`
}

func (tc *taskCluster) describeHealth(t testing.TB, arn string) healthTask {
	t.Helper()
	var out struct {
		Tasks []healthTask `json:"tasks"`
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "describe-tasks", "--cluster", tc.name, "--tasks", arn)
	require.Len(t, out.Tasks, 1)
	return out.Tasks[0]
}

// A container whose health check fails shows UNHEALTHY in describe-tasks,
// and so does its task; a passing one HEALTHY; the instance's health is OK
// while its agent is connected; the health series end when the tasks stop.
func TestE2ETelemetryHealth(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	checked := func(name, check string, retries int) map[string]any {
		c := containerDef(name, true, sleeper)
		c["healthCheck"] = map[string]any{"command": []string{"CMD-SHELL", check}, "interval": 5, "timeout": 5, "retries": retries}
		return c
	}
	// The passing check may miss a beat on a busy host (a check that times
	// out counts as failed): three misses in a row turn it unhealthy, not
	// one, so that it stays HEALTHY between the two reads below.
	passing := tc.runOne(t, tc.register(t, taskDef(uniqueName(t)+"-pass", checked("web", "true", 3))))
	failing := tc.runOne(t, tc.register(t, taskDef(uniqueName(t)+"-fail", checked("web", "exit 1", 1), containerDef("plain", true, sleeper))))
	tc.awaitStatus(t, passing, "RUNNING")
	tc.awaitStatus(t, failing, "RUNNING")

	for arn, want := range map[string]string{passing: "HEALTHY", failing: "UNHEALTHY"} {
		var got healthTask
		waitFor(t, 90*time.Second, "the task "+want, func() bool {
			got = tc.describeHealth(t, arn)
			return got.HealthStatus == want
		})
		for _, c := range got.Containers {
			switch c.Name {
			case "web":
				assert.Equal(t, want, c.HealthStatus, "container web of the %s task", want)
			case "plain":
				assert.Equal(t, "UNKNOWN", c.HealthStatus, "no health check, no health")
			}
		}
	}
	// /metrics reads the same reports as describe-tasks. Wait for each value
	// rather than read it once: the reads above can take a minute between
	// them, and on a busy host the passing check may have missed its beats
	// meanwhile (it recovers at its next pass).
	awaitSample(t, tc.cp, "ecs_container_healthy", passing, "web", func(v float64) bool { return v == 1 })
	awaitSample(t, tc.cp, "ecs_container_healthy", failing, "web", func(v float64) bool { return v == 0 })

	var out struct {
		ContainerInstances []struct {
			HealthStatus struct {
				OverallStatus string `json:"overallStatus"`
				Details       []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"details"`
			} `json:"healthStatus"`
		} `json:"containerInstances"`
	}
	inst := tc.cp.awaitInstance(t, tc.name, "the agent's instance", func(ci containerInstance) bool { return ci.AgentConnected })
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &out, "ecs", "describe-container-instances", "--cluster", tc.name,
		"--container-instances", inst.ContainerInstanceArn, "--include", "CONTAINER_INSTANCE_HEALTH")
	require.Len(t, out.ContainerInstances, 1)
	h := out.ContainerInstances[0].HealthStatus
	assert.Equal(t, "OK", h.OverallStatus, "%+v", h)
	types := map[string]string{}
	for _, d := range h.Details {
		types[d.Type] = d.Status
	}
	assert.Equal(t, "OK", types["CONTAINER_RUNTIME"], "%+v", h)

	// Stopped, the tasks' health series end with them, not when their last
	// report turns stale (90 s): the agent sends no more health once no
	// task of its has a health check.
	for _, arn := range []string{passing, failing} {
		tc.stopTask(t, arn, "e2e: done")
	}
	for _, arn := range []string{passing, failing} {
		tc.awaitStatus(t, arn, "STOPPED")
		waitFor(t, 10*time.Second, "the stopped task's health series to go", func() bool {
			_, found := containerSample(t, tc.cp, "ecs_container_healthy", arn, "web")
			return !found
		})
	}
}

// Killing the control plane and starting it again: the agent's TCS session
// reconnects with backoff and the metrics come back.
func TestE2ETelemetryResumesAfterControlPlaneRestart(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	arn := tc.runOne(t, tc.register(t, taskDef(uniqueName(t), containerDef("burn", true, burnCPU))))
	tc.awaitStatus(t, arn, "RUNNING")
	awaitSample(t, tc.cp, "ecs_container_cpu_utilization_percent", arn, "burn", func(v float64) bool { return v > 0 })

	tc.cp.proc.stop(t, syscall.SIGKILL)
	waitFor(t, 30*time.Second, "the agent to notice", func() bool {
		return strings.Contains(tc.agent.proc.out.String(), "TCS connection failed; backing off")
	})
	tc.cp.restart(t)
	// Telemetry is not persisted: a value in the new process came after the restart.
	awaitSample(t, tc.cp, "ecs_container_cpu_utilization_percent", arn, "burn", func(v float64) bool { return v > 0 })
	assert.GreaterOrEqual(t, strings.Count(tc.agent.proc.out.String(), "connected to TCS"), 2, "the agent connected again")
}

// tcsClient is a hand-made TCS session to the real control plane, signing
// its frames as an agent does.
type tcsClient struct {
	t      testing.TB
	ws     *websocket.Conn
	signer wire.Signer
}

// tcsURL is the URL an agent of instance dials, and signs its frames for.
func tcsURL(cp *controlPlane, cluster, instance string) string {
	q := url.Values{"agentHash": {"e2e"}, "agentVersion": {"1.0.0"}, "cluster": {cluster},
		"containerInstance": {instance}, "dockerVersion": {"20.10.24"}}
	return cp.endpoint + "/tcs/ws?" + q.Encode()
}

// dialTCS opens instance's telemetry session signed with creds; a refused
// handshake returns its status and body.
func dialTCS(t testing.TB, cp *controlPlane, creds credentials, cluster, instance string) (*tcsClient, int, string) {
	t.Helper()
	u := tcsURL(cp, cluster, instance)
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	sum := sha256.Sum256(nil)
	c := aws.Credentials{AccessKeyID: creds.accessKey, SecretAccessKey: creds.secretKey}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()))
	header := http.Header{"Authorization": req.Header["Authorization"], "X-Amz-Date": req.Header["X-Amz-Date"]}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(u, "http"), header)
	if err != nil {
		require.NotNil(t, resp, "dial TCS: %v", err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(body)
	}
	t.Cleanup(func() { ws.Close() })
	return &tcsClient{t: t, ws: ws, signer: tcsSigner(u, creds)}, http.StatusSwitchingProtocols, ""
}

func tcsSigner(u string, creds credentials) wire.Signer {
	return wire.Signer{URL: u, Region: "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(creds.accessKey, creds.secretKey, "")}
}

// send writes frame and returns the control plane's answer (not a heartbeat).
func (c *tcsClient) send(frame []byte) any {
	c.t.Helper()
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, frame))
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(30*time.Second)))
	for {
		_, data, err := c.ws.ReadMessage()
		require.NoError(c.t, err)
		msg, err := wire.Decode(data)
		require.NoError(c.t, err)
		if _, ok := msg.(*wire.HeartbeatMessage); !ok {
			return msg
		}
	}
}

func (c *tcsClient) frame(msg wire.Message) []byte {
	c.t.Helper()
	f, err := c.signer.EncodeFrame(context.Background(), msg, time.Now())
	require.NoError(c.t, err)
	return f
}

// The real control plane refuses a TCS session for another key's instance,
// and, on a session, a frame whose bytes were changed, one signed with
// another key, and one about another instance; a proper frame is acknowledged.
func TestE2ETelemetryRefusesForeignAndTamperedFrames(t *testing.T) {
	t.Parallel()
	tc := startAgentKeyCluster(t) // the agent runs with agent key 1
	inst := tc.cp.awaitInstance(t, tc.name, "the agent's instance", func(ci containerInstance) bool { return ci.AgentConnected })
	mine := inst.ContainerInstanceArn

	// Agent key 2 registers an instance of its own.
	key2 := ecs.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: awscreds.NewStaticCredentialsProvider(agentCreds2.accessKey, agentCreds2.secretKey, "")},
		func(o *ecs.Options) { o.BaseEndpoint = aws.String(tc.cp.endpoint) })
	reg, err := key2.RegisterContainerInstance(context.Background(), &ecs.RegisterContainerInstanceInput{Cluster: aws.String(tc.name)})
	require.NoError(t, err)
	theirs := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)

	_, status, body := dialTCS(t, tc.cp, agentCreds2, tc.name, mine)
	assert.Equal(t, http.StatusForbidden, status)
	requireContains(t, body, `"AccessDeniedException"`, "ecs:StartTelemetrySession on resource: "+mine, "registered with another access key")

	c, status, body := dialTCS(t, tc.cp, agentCreds1, tc.name, mine)
	require.Equal(t, http.StatusSwitchingProtocols, status, body)
	status1 := func(instance string) *wire.PublishInstanceStatusRequest {
		return &wire.PublishInstanceStatusRequest{
			Metadata: &wire.InstanceStatusMetadata{Cluster: tc.name, ContainerInstance: instance, RequestID: "r-" + instance[len(instance)-4:]},
			Statuses: []wire.InstanceStatus{{Type: "ContainerRuntime", Status: wire.InstanceHealthcheckStatusOk, LastUpdated: wire.At(time.Now())}},
		}
	}

	tampered := bytes.Replace(c.frame(status1(mine)), []byte(`"status":"OK"`), []byte(`"status":"IMPAIRED"`), 1)
	exc, ok := c.send(tampered).(*wire.BadRequestException)
	require.True(t, ok, "a tampered frame is refused")
	assert.Contains(t, exc.Message, "signature does not verify")

	c.signer = tcsSigner(tcsURL(tc.cp, tc.name, mine), agentCreds2)
	exc, ok = c.send(c.frame(status1(mine))).(*wire.BadRequestException)
	require.True(t, ok, "a frame signed with another key is refused")
	assert.Contains(t, exc.Message, "signed with access key "+agentCreds2.accessKey)

	c.signer = tcsSigner(tcsURL(tc.cp, tc.name, mine), agentCreds1)
	exc, ok = c.send(c.frame(status1(theirs))).(*wire.BadRequestException)
	require.True(t, ok, "a frame about another instance is refused")
	assert.Contains(t, exc.Message, "is not the container instance this session was opened for")

	assert.Equal(t, &wire.AckPublishInstanceStatus{Message: "r-" + mine[len(mine)-4:]}, c.send(c.frame(status1(mine))))
	assert.Contains(t, scrapeControlPlane(t, tc.cp), `ecs_controlplane_tcs_frames_total{result="refused"} 3`)
}
