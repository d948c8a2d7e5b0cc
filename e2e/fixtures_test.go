package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCreds are the development credentials the control plane accepts in tests.
var testCreds = credentials{accessKey: "AKIAE2ETESTKEY000001", secretKey: "e2e-test-secret-key-0123456789abcdefghij"}

// controlPlane is a running ecs-controlplane binary with its own data directory.
type controlPlane struct {
	addr     string
	endpoint string
	dataDir  string
	credFile string
	tls      *testCA // nil: plain HTTP
	proc     *process
	// args and env are added to the binary's flags and environment.
	args, env []string
}

// cliEnv is the aws CLI's environment for this control plane: the test
// credentials and, with TLS, the CA that signed its certificate.
func (cp *controlPlane) cliEnv() []string {
	env := testCreds.env()
	if cp.tls != nil {
		env = append(env, "AWS_CA_BUNDLE="+cp.tls.caFile)
	}
	return env
}

func startControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	return startControlPlaneWith(t, nil)
}

// startControlPlaneWith starts a control plane serving HTTPS and WSS with a
// certificate from ca, or plain HTTP when ca is nil; opts may add flags and
// environment (controlPlane.args, .env).
func startControlPlaneWith(t testing.TB, ca *testCA, opts ...func(*controlPlane)) *controlPlane {
	t.Helper()
	dir := t.TempDir()
	cp := &controlPlane{
		dataDir:  filepath.Join(dir, "data"),
		credFile: filepath.Join(dir, "credentials"),
		tls:      ca,
	}
	for _, o := range opts {
		o(cp)
	}
	cp.setAddr(freeAddr(t))
	ini := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", testCreds.accessKey, testCreds.secretKey)
	if err := os.WriteFile(cp.credFile, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another test package may take the free port before the binary binds
	// it; a new port then is as good.
	for attempt := 1; ; attempt++ {
		err := cp.launch(t)
		if err == nil {
			return cp
		}
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			t.Fatal(err)
		}
		cp.setAddr(freeAddr(t))
	}
}

// setAddr sets the listen address and the endpoint clients use.
func (cp *controlPlane) setAddr(addr string) {
	cp.addr = addr
	cp.endpoint = "http://" + addr
	if cp.tls != nil {
		cp.endpoint = "https://" + addr
	}
}

// restart (re)starts the binary on the same address and data directory.
func (cp *controlPlane) restart(t testing.TB) {
	t.Helper()
	if err := cp.launch(t); err != nil {
		t.Fatal(err)
	}
}

// errAddrInUse reports a listen address taken between freeAddr and the bind.
var errAddrInUse = errors.New("address already in use")

// launch starts the binary and waits until it answers.
func (cp *controlPlane) launch(t testing.TB) error {
	t.Helper()
	args := []string{"-listen", cp.addr, "-data-dir", cp.dataDir, "-region", "us-east-1",
		"-credentials", cp.credFile, "-heartbeat-interval", "1s"}
	client := http.DefaultClient
	if cp.tls != nil {
		args = append(args, "-tls-cert", cp.tls.certFile, "-tls-key", cp.tls.keyFile)
		client = cp.tls.client()
	}
	args = append(args, cp.args...)
	cp.proc = start(t, filepath.Join(binDir, "ecs-controlplane"), baseEnv(cp.env...), args...)
	var exitErr error
	waitFor(t, 20*time.Second, "the control plane to answer", func() bool {
		if cp.proc.exited() {
			exitErr = fmt.Errorf("ecs-controlplane exited: %v", cp.proc.err)
			if strings.Contains(cp.proc.out.String(), "address already in use") {
				exitErr = fmt.Errorf("%w: %s", errAddrInUse, cp.addr)
			}
			return true
		}
		resp, err := client.Post(cp.endpoint+"/", "application/x-amz-json-1.1", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return exitErr
}

func (cp *controlPlane) createCluster(t testing.TB, name string) {
	t.Helper()
	awsJSON(t, cp.endpoint, cp.cliEnv(), nil, "ecs", "create-cluster", "--cluster-name", name)
}

// containerInstance is the part of DescribeContainerInstances the tests read.
type containerInstance struct {
	ContainerInstanceArn string `json:"containerInstanceArn"`
	Ec2InstanceID        string `json:"ec2InstanceId"`
	Status               string `json:"status"`
	AgentConnected       bool   `json:"agentConnected"`
	VersionInfo          struct {
		AgentVersion  string `json:"agentVersion"`
		AgentHash     string `json:"agentHash"`
		DockerVersion string `json:"dockerVersion"`
	} `json:"versionInfo"`
	RegisteredResources []resource `json:"registeredResources"`
	RemainingResources  []resource `json:"remainingResources"`
	Attributes          []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"attributes"`
}

type resource struct {
	Name           string   `json:"name"`
	Type           string   `json:"type"`
	IntegerValue   int64    `json:"integerValue"`
	StringSetValue []string `json:"stringSetValue"`
}

func (ci containerInstance) resource(name string) (resource, bool) {
	for _, r := range ci.RegisteredResources {
		if r.Name == name {
			return r, true
		}
	}
	return resource{}, false
}

func (ci containerInstance) attribute(name string) (string, bool) {
	for _, a := range ci.Attributes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

func (cp *controlPlane) instances(t testing.TB, cluster string) []containerInstance {
	t.Helper()
	var list struct {
		ContainerInstanceArns []string `json:"containerInstanceArns"`
	}
	awsJSON(t, cp.endpoint, cp.cliEnv(), &list, "ecs", "list-container-instances", "--cluster", cluster)
	if len(list.ContainerInstanceArns) == 0 {
		return nil
	}
	var desc struct {
		ContainerInstances []containerInstance `json:"containerInstances"`
	}
	args := append([]string{"ecs", "describe-container-instances", "--cluster", cluster, "--container-instances"}, list.ContainerInstanceArns...)
	awsJSON(t, cp.endpoint, cp.cliEnv(), &desc, args...)
	return desc.ContainerInstances
}

// onlyInstance waits until the cluster has exactly one instance matching cond and returns it.
func (cp *controlPlane) awaitInstance(t testing.TB, cluster, what string, cond func(containerInstance) bool) containerInstance {
	t.Helper()
	var found containerInstance
	waitFor(t, 30*time.Second, what, func() bool {
		list := cp.instances(t, cluster)
		if len(list) != 1 || !cond(list[0]) {
			return false
		}
		found = list[0]
		return true
	})
	return found
}

// agent is a running ecs-agent binary.
type agent struct {
	introspection string
	taskMetadata  string // ECS_TASK_METADATA_ADDR: its own, as several agents share the test host
	dataDir       string
	configFile    string
	env           []string
	proc          *process
}

// agentSettings returns the environment of an agent registered with cp in cluster.
func newAgent(t testing.TB, cp *controlPlane, cluster string, extraEnv ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{
		introspection: freeAddr(t),
		taskMetadata:  freeAddr(t),
		dataDir:       filepath.Join(dir, "data"),
		configFile:    filepath.Join(dir, "ecs.config"),
	}
	// An empty config file keeps the host's /etc/ecs/ecs.config out of the test.
	if err := os.WriteFile(a.configFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.env = baseEnv(append([]string{
		"ECS_CLUSTER=" + cluster,
		"ECS_BACKEND_HOST=" + cp.endpoint,
		"ECS_DATADIR=" + a.dataDir,
		"ECS_CHECKPOINT=true",
		"ECS_INTROSPECTION_ADDR=" + a.introspection,
		"ECS_TASK_METADATA_ADDR=" + a.taskMetadata,
		"ECS_LOGLEVEL=debug",
		"AWS_DEFAULT_REGION=us-east-1",
	}, append(testCreds.env(), extraEnv...)...)...)
	return a
}

func (a *agent) start(t testing.TB) {
	t.Helper()
	a.proc = start(t, filepath.Join(binDir, "ecs-agent"), a.env, "-config", a.configFile)
}

type metadata struct {
	Cluster              string `json:"Cluster"`
	ContainerInstanceArn string `json:"ContainerInstanceArn"`
	Version              string `json:"Version"`
}

// awaitMetadata waits until the introspection API answers with a container instance ARN.
func (a *agent) awaitMetadata(t testing.TB) metadata {
	t.Helper()
	return waitMetadata(t, a.introspection, func() string {
		if a.proc.exited() {
			return fmt.Sprintf("exited: %v", a.proc.err)
		}
		return "running"
	})
}

// waitMetadata polls http://addr/v1/metadata until it names a container
// instance; state reports whether the agent still runs ("running" for a
// process, Docker's "running" for a container), failing the wait early.
func waitMetadata(t testing.TB, addr string, state func() string) metadata {
	t.Helper()
	var md metadata
	waitFor(t, 30*time.Second, "the agent's introspection API", func() bool {
		if s := state(); s != "running" {
			t.Fatalf("the agent is not running: %s", s)
		}
		resp, err := http.Get("http://" + addr + "/v1/metadata")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		md = metadata{}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&md) == nil && md.ContainerInstanceArn != ""
	})
	return md
}

func (a *agent) stop(t testing.TB, sig syscall.Signal) time.Duration {
	t.Helper()
	return a.proc.stop(t, sig)
}
