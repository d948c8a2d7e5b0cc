// Command genv0 writes testdata/v0/controlplane.db: a control plane
// database in schema version 0, the layout before schema versions, written
// by the control plane of commit fab846d through its real ECS API and ACS
// server, and testdata/v0/records.json, every record of that file as that
// code read it back. store's tests open the file with today's code and
// compare.
//
// It must run against the code of fab846d, not today's: gen.sh extracts
// that commit into a temporary directory, copies this program in and runs
// it there. It uses only API that commit has.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

const (
	region    = "us-east-1"
	accountID = "123456789012"
	keyID     = "AKIDGENV0"
	secret    = "genv0-secret"
)

func main() {
	out := flag.String("out", "", "directory to write controlplane.db and records.json into")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	dataDir, err := os.MkdirTemp("", "genv0")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	srv, err := controlplane.New(controlplane.Options{
		DataDir: dataDir, Region: region, AccountID: accountID,
		Credentials:       sigv4.StaticCredentials{keyID: {SecretAccessKey: secret}},
		RedeliverInterval: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	g := &gen{ctx: ctx, url: url, ecs: ecs.New(ecs.Options{
		Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})}
	err = g.scenario()
	cancel()
	for _, a := range g.agents {
		a.stop()
	}
	if serr := <-served; err == nil {
		err = serr
	}
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return dump(filepath.Join(dataDir, store.FileName), out)
}

type gen struct {
	ctx    context.Context
	url    string
	ecs    *ecs.Client
	agents []*agent
}

// scenario leaves one record of every kind and state the store keeps.
func (g *gen) scenario() error {
	c := g.ecs
	ctx := g.ctx
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		return err
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String("prod"),
		Tags:        []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
		Settings:    []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	}); err != nil {
		return err
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("retired")}); err != nil {
		return err
	}
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("retired")}); err != nil {
		return err
	}

	a, err := g.register("i-0aaaaaaaaaaaaaaa1", "rack", "a")
	if err != nil {
		return err
	}
	b, err := g.register("i-0bbbbbbbbbbbbbbb2", "rack", "b")
	if err != nil {
		return err
	}
	gone, err := g.register("i-0ccccccccccccccc3", "", "")
	if err != nil {
		return err
	}
	if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("default"), ContainerInstance: aws.String(gone)}); err != nil {
		return err
	}

	for _, in := range []*ecs.RegisterTaskDefinitionInput{
		{Family: aws.String("web"), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("busybox"), Memory: aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}}}}},
		{Family: aws.String("web"), Cpu: aws.String("256"), Memory: aws.String("128"), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("busybox"), Essential: aws.Bool(true),
			Command:      []string{"httpd", "-f"},
			Environment:  []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("v2")}},
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}}}},
			Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("web")}}},
		{Family: aws.String("worker"), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String("busybox"), Memory: aws.Int32(32), Command: []string{"sleep", "3600"},
			HealthCheck: &types.HealthCheck{Command: []string{"CMD", "true"}, Interval: aws.Int32(10)}},
			{Name: aws.String("side"), Image: aws.String("busybox"), MemoryReservation: aws.Int32(16), Essential: aws.Bool(false)}}},
	} {
		if _, err := c.RegisterTaskDefinition(ctx, in); err != nil {
			return err
		}
	}
	if _, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")}); err != nil {
		return err
	}

	agentA := g.connect(a, true)
	agentB := g.connect(b, false)

	// Running and acknowledged, with a port reported.
	running, err := g.start("web:2", a, "")
	if err != nil {
		return err
	}
	if err := g.awaitAck(running, "RUNNING"); err != nil {
		return err
	}
	if err := g.report(running, "RUNNING", "web", nil, 32768); err != nil {
		return err
	}

	// Stopped by the user: the stop acknowledged, then reported with exit 0.
	stopped, err := g.start("worker:1", a, "nightly")
	if err != nil {
		return err
	}
	if err := g.awaitAck(stopped, "RUNNING"); err != nil {
		return err
	}
	if err := g.report(stopped, "RUNNING", "main", nil, 0); err != nil {
		return err
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("default"), Task: aws.String(stopped), Reason: aws.String("done for today")}); err != nil {
		return err
	}
	if err := g.awaitAck(stopped, "STOPPED"); err != nil {
		return err
	}
	if err := g.report(stopped, "STOPPED", "main", aws.Int32(0), 0); err != nil {
		return err
	}

	// Stopped on its own: the essential container exited 1.
	failed, err := g.start("worker:1", a, "")
	if err != nil {
		return err
	}
	if err := g.awaitAck(failed, "RUNNING"); err != nil {
		return err
	}
	if err := g.report(failed, "STOPPED", "main", aws.Int32(1), 0); err != nil {
		return err
	}

	// A stop the agent has not acknowledged yet.
	stopping, err := g.start("web:2", a, "")
	if err != nil {
		return err
	}
	if err := g.awaitAck(stopping, "RUNNING"); err != nil {
		return err
	}
	agentA.ack.Store(false)
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("default"), Task: aws.String(stopping)}); err != nil {
		return err
	}
	if err := agentA.awaitPayload(stopping, "STOPPED"); err != nil {
		return err
	}

	// Never acknowledged: instance b's agent does not ack.
	pending, err := g.start("worker:1", b, "")
	if err != nil {
		return err
	}
	return agentB.awaitPayload(pending, "RUNNING")
}

func (g *gen) register(ec2ID, attr, value string) (string, error) {
	doc, _ := json.Marshal(map[string]string{"instanceId": ec2ID, "region": region, "availabilityZone": "us-east-1a", "instanceType": "t3.small"})
	in := &ecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String("default"),
		InstanceIdentityDocument: aws.String(string(doc)),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 3800},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		VersionInfo: &types.VersionInfo{AgentVersion: aws.String("0.1.0"), DockerVersion: aws.String("20.10.24")},
	}
	for _, name := range []string{"ecs.capability.task-cpu-mem-limit", "ecs.capability.container-health-check",
		"com.amazonaws.ecs.capability.docker-remote-api.1.18", "com.amazonaws.ecs.capability.docker-remote-api.1.21",
		"com.amazonaws.ecs.capability.docker-remote-api.1.24"} {
		in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(name)})
	}
	if attr != "" {
		in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(attr), Value: aws.String(value)})
	}
	out, err := g.ecs.RegisterContainerInstance(g.ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ContainerInstance.ContainerInstanceArn), nil
}

func (g *gen) start(taskDef, instance, startedBy string) (string, error) {
	in := &ecs.StartTaskInput{Cluster: aws.String("default"), TaskDefinition: aws.String(taskDef), ContainerInstances: []string{instance}}
	if startedBy != "" {
		in.StartedBy = aws.String(startedBy)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Placement needs the agent's ACS session, which connects on its own.
		out, err := g.ecs.StartTask(g.ctx, in)
		if err != nil {
			return "", err
		}
		if len(out.Tasks) == 1 {
			return aws.ToString(out.Tasks[0].TaskArn), nil
		}
		if time.Now().After(deadline) {
			reason := ""
			for _, f := range out.Failures {
				reason += aws.ToString(f.Reason) + " "
			}
			return "", fmt.Errorf("start %s on %s: %s", taskDef, instance, reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitAck waits until the control plane records the agent's ack of desired.
func (g *gen) awaitAck(taskARN, desired string) error {
	return poll(func() (bool, error) {
		// The ack is not in the API; the delivery loop stops resending,
		// which is only visible in the store. Read it through the API's
		// proxy: the task's version does not move, so wait on the agent.
		for _, a := range g.agents {
			if a.acked(taskARN, desired) {
				return true, nil
			}
		}
		return false, nil
	}, "ack of "+desired+" for "+taskARN)
}

func (g *gen) report(taskARN, status, container string, exit *int32, hostPort int32) error {
	cc := types.ContainerStateChange{ContainerName: aws.String(container), Status: aws.String(status), RuntimeId: aws.String("0123456789ab"), ExitCode: exit}
	if hostPort != 0 {
		cc.NetworkBindings = []types.NetworkBinding{{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(hostPort), Protocol: types.TransportProtocolTcp}}
	}
	_, err := g.ecs.SubmitTaskStateChange(g.ctx, &ecs.SubmitTaskStateChangeInput{
		Cluster: aws.String("default"), Task: aws.String(taskARN), Status: aws.String(status),
		Containers: []types.ContainerStateChange{cc}, PullStartedAt: aws.Time(time.Now().Add(-time.Second)), PullStoppedAt: aws.Time(time.Now()),
	})
	return err
}

// agent is an ACS session that records what it was sent and acks it while
// ack is true.
type agent struct {
	ack  atomic.Bool
	got  chan *wire.PayloadMessage
	seen atomic.Value // map[string]string: task ARN+desired -> "acked" or "sent"
	stop func()
}

func (a *agent) mark(arn, desired, what string) {
	m, _ := a.seen.Load().(map[string]string)
	next := map[string]string{}
	for k, v := range m {
		next[k] = v
	}
	if next[arn+" "+desired] != "acked" {
		next[arn+" "+desired] = what
	}
	a.seen.Store(next)
}

func (a *agent) state(arn, desired string) string {
	m, _ := a.seen.Load().(map[string]string)
	return m[arn+" "+desired]
}

func (a *agent) acked(arn, desired string) bool { return a.state(arn, desired) == "acked" }

func (a *agent) awaitPayload(arn, desired string) error {
	return poll(func() (bool, error) { return a.state(arn, desired) != "", nil }, "payload "+desired+" for "+arn)
}

func (g *gen) connect(instance string, ack bool) *agent {
	a := &agent{}
	a.ack.Store(ack)
	var sess *acs.Session
	sess = acs.NewSession(acs.Options{
		DiscoverEndpoint:     func(context.Context) (string, error) { return g.url, nil },
		Cluster:              "default",
		ContainerInstanceARN: instance,
		AgentVersion:         "0.1.0",
		DockerVersion:        "20.10.24",
		Region:               region,
		Credentials:          credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BackoffMin:           10 * time.Millisecond,
		BackoffMax:           100 * time.Millisecond,
		Handler: func(ctx context.Context, msg any) {
			p, ok := msg.(*wire.PayloadMessage)
			if !ok {
				return
			}
			what := "sent"
			if a.ack.Load() {
				if err := sess.Send(ctx, &wire.AckRequest{Cluster: p.ClusterARN, ContainerInstance: p.ContainerInstanceARN, MessageID: p.MessageID}); err == nil {
					what = "acked"
				}
			}
			for _, t := range p.Tasks {
				a.mark(t.ARN, t.DesiredStatus, what)
			}
		},
	})
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Run(ctx)
	}()
	a.stop = func() {
		cancel()
		<-done
	}
	g.agents = append(g.agents, a)
	return a
}

func poll(cond func() (bool, error), what string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out waiting for " + what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// records is every record of the file, as the code that wrote it reads it.
type records struct {
	Clusters        []store.Cluster           `json:"clusters"`
	Instances       []store.ContainerInstance `json:"instances"`
	TaskDefinitions []store.TaskDefinition    `json:"taskDefinitions"`
	Tasks           []store.Task              `json:"tasks"`
}

func dump(dbPath, out string) error {
	st, err := store.Open(dbPath)
	if err != nil {
		return err
	}
	var r records
	err = st.View(func(tx store.Tx) error {
		var err error
		if r.Clusters, err = tx.Clusters(); err != nil {
			return err
		}
		if r.Instances, err = tx.Instances(""); err != nil {
			return err
		}
		if r.TaskDefinitions, err = tx.TaskDefinitions(""); err != nil {
			return err
		}
		r.Tasks, err = tx.Tasks("")
		return err
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "records.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	db, err := os.ReadFile(dbPath)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, store.FileName), db, 0o644)
}
