package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/version"
)

type fakeDocker struct {
	mu    sync.Mutex
	fails int // errors returned before answering
	calls int
	info  dockerapi.VersionInfo
}

func (f *fakeDocker) Version(context.Context) (dockerapi.VersionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return dockerapi.VersionInfo{}, errors.New("connection refused")
	}
	return f.info, nil
}

type fakeIMDS struct {
	ident ec2metadata.Identity
	err   error
}

func (f fakeIMDS) Resolve(_ context.Context, region string, _ time.Duration) (ec2metadata.Identity, error) {
	if f.err != nil {
		return ec2metadata.Identity{}, f.err
	}
	id := f.ident
	if region != "" {
		id.Region = region
	}
	return id, nil
}

func (fakeIMDS) Endpoint() string { return "http://127.0.0.1:1" }

type harness struct {
	t    *testing.T
	stub *ecsStub
	cfg  *config.Config
	opts Options
	imds fakeIMDS
}

func newHarness(t *testing.T) *harness {
	isolateAWS(t)
	stub := newECSStub(t)
	cfg := config.Default()
	cfg.Cluster = "default"
	cfg.AWSRegion = "us-west-2"
	cfg.APIEndpoint = stub.URL()
	cfg.DataDir = t.TempDir()
	cfg.Checkpoint = true
	cfg.IntrospectionAddr = "127.0.0.1:0"
	cfg.TaskMetadataAddr = "127.0.0.1:0"
	h := &harness{t: t, stub: stub, cfg: cfg,
		imds: fakeIMDS{ident: ec2metadata.Identity{InstanceID: "i-0001", AvailabilityZone: "us-west-2a"}}}
	h.opts = Options{
		Docker:         &fakeDocker{info: dockerapi.VersionInfo{ServerVersion: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12"}},
		Runtime:        enginetest.NewFake(),
		memInfoPath:    writeMemInfo(t, 4*1024*1024),
		registerPolicy: &fastPolicy,
		dockerBackoff:  time.Millisecond,
	}
	return h
}

// start runs the agent until it is ready and returns a stop function that
// cancels it and returns Run's error.
func (h *harness) start() (Status, func() error) {
	h.t.Helper()
	ready := make(chan Status, 1)
	opts := h.opts
	opts.IMDS = h.imds
	opts.OnReady = func(s Status) { ready <- s }
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.cfg, opts) }()
	select {
	case st := <-ready:
		return st, func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(20 * time.Second):
				h.t.Fatal("Run did not return after cancel")
				return nil
			}
		}
	case err := <-done:
		cancel()
		h.t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		h.t.Fatal("agent not ready")
	}
	return Status{}, nil
}

// runErr runs the agent expecting it to fail before becoming ready.
func (h *harness) runErr() error {
	opts := h.opts
	opts.IMDS = h.imds
	opts.OnReady = func(Status) { h.t.Error("unexpectedly ready") }
	return Run(h.t.Context(), h.cfg, opts)
}

func getMetadata(t *testing.T, addr string) map[string]string {
	resp, err := http.Get("http://" + addr + "/v1/metadata")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	require.NoError(t, json.Unmarshal(body, &m))
	return m
}

func TestRunRegistersServesAndStops(t *testing.T) {
	h := newHarness(t)
	st, stop := h.start()
	assert.Equal(t, "default", st.Cluster)
	assert.Equal(t, "us-west-2b", st.AvailabilityZone)

	md := getMetadata(t, st.IntrospectionAddr)
	assert.Equal(t, map[string]string{
		"Cluster": "default", "ContainerInstanceArn": st.ContainerInstanceARN, "Version": version.String(),
	}, md)

	// The ACS session asks for its endpoint.
	require.Eventually(t, func() bool { return h.stub.dpeCalls() > 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())

	// Shut down: the introspection port is closed and agent.db is released.
	_, err := http.Get("http://" + st.IntrospectionAddr + "/v1/metadata")
	require.Error(t, err)
	s, err := statemanager.OpenBolt(h.cfg.DataDir, statemanager.BoltOptions{Timeout: time.Second})
	require.NoError(t, err)
	defer s.Close()
	for key, want := range map[string]string{
		statemanager.KeyContainerInstanceARN: st.ContainerInstanceARN,
		statemanager.KeyClusterName:          "default",
		statemanager.KeyEC2InstanceID:        "i-0001",
		statemanager.KeyAvailabilityZone:     "us-west-2b",
		statemanager.KeyAgentVersion:         version.Version,
	} {
		got, err := statemanager.Metadata{Store: s}.Get(key)
		require.NoError(t, err, key)
		assert.Equal(t, want, got, key)
	}
}

func TestRunKeepsARNAcrossRestarts(t *testing.T) {
	h := newHarness(t)
	first, stop := h.start()
	require.NoError(t, stop())

	second, stop := h.start()
	require.NoError(t, stop())
	assert.Equal(t, first.ContainerInstanceARN, second.ContainerInstanceARN)

	rci := h.stub.registrations()
	require.Len(t, rci, 2)
	assert.NotContains(t, rci[0], "containerInstanceArn")
	assert.Equal(t, first.ContainerInstanceARN, rci[1]["containerInstanceArn"], "re-registration")
}

func TestRunWithoutCheckpointRegistersAnew(t *testing.T) {
	h := newHarness(t)
	h.cfg.Checkpoint = false
	first, stop := h.start()
	require.NoError(t, stop())
	second, stop := h.start()
	require.NoError(t, stop())
	assert.NotEqual(t, first.ContainerInstanceARN, second.ContainerInstanceARN)
}

func TestRunNewHostResetsState(t *testing.T) {
	h := newHarness(t)
	first, stop := h.start()
	require.NoError(t, stop())

	h.imds.ident.InstanceID = "i-0002" // the data dir moved to another instance
	second, stop := h.start()
	require.NoError(t, stop())
	assert.NotEqual(t, first.ContainerInstanceARN, second.ContainerInstanceARN)
	assert.NotContains(t, h.stub.registrations()[1], "containerInstanceArn")
}

func TestRunWithoutIMDSKeepsSavedInstanceID(t *testing.T) {
	h := newHarness(t)
	first, stop := h.start()
	require.NoError(t, stop())

	h.imds.ident = ec2metadata.Identity{} // IMDS gone; the configured region is used
	second, stop := h.start()
	require.NoError(t, stop())
	assert.Equal(t, first.ContainerInstanceARN, second.ContainerInstanceARN)
}

func TestRunClusterMismatchIsTerminal(t *testing.T) {
	h := newHarness(t)
	_, stop := h.start()
	require.NoError(t, stop())

	h.cfg.Cluster = "prod"
	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	assert.Contains(t, err.Error(), `saved cluster "default"`)
	assert.Contains(t, err.Error(), statemanager.DBFileName)
}

func TestRunCorruptStateIsTerminal(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, writeFile(h.cfg.DataDir+"/"+statemanager.DBFileName, "garbage"))
	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	require.ErrorIs(t, err, statemanager.ErrCorrupt)
}

func TestRunWaitsForDocker(t *testing.T) {
	h := newHarness(t)
	d := h.opts.Docker.(*fakeDocker)
	d.fails = 3
	_, stop := h.start()
	require.NoError(t, stop())
	d.mu.Lock()
	defer d.mu.Unlock()
	assert.Equal(t, 4, d.calls)
}

func TestRunOldDockerIsTerminal(t *testing.T) {
	h := newHarness(t)
	h.opts.Docker = &fakeDocker{info: dockerapi.VersionInfo{ServerVersion: "1.8.3", APIVersion: "1.20"}}
	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	require.ErrorIs(t, err, dockerapi.ErrAPITooOld)
}

func TestRunNoRegionIsTerminal(t *testing.T) {
	h := newHarness(t)
	h.cfg.AWSRegion = ""
	h.imds = fakeIMDS{err: ec2metadata.ErrNoRegion}
	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
}

func TestRunTerminalRegistration(t *testing.T) {
	h := newHarness(t)
	h.stub.set(func(s *ecsStub) { s.rciErrs = []stubError{{http.StatusBadRequest, "ClientException"}} })
	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
}

func TestRunIntrospectionPortInUse(t *testing.T) {
	h := newHarness(t)
	first, stop := h.start()
	defer func() { require.NoError(t, stop()) }()

	h2 := newHarness(t)
	h2.cfg.IntrospectionAddr = first.IntrospectionAddr
	err := h2.runErr()
	require.ErrorContains(t, err, "ECS_INTROSPECTION_ADDR")
	assert.NotErrorIs(t, err, ErrTerminal)
}

func TestRunTaskMetadataPortInUse(t *testing.T) {
	h := newHarness(t)
	first, stop := h.start()
	defer func() { require.NoError(t, stop()) }()

	h2 := newHarness(t)
	h2.cfg.TaskMetadataAddr = first.TaskMetadataAddr
	err := h2.runErr()
	require.ErrorContains(t, err, "ECS_TASK_METADATA_ADDR="+first.TaskMetadataAddr)
	assert.NotErrorIs(t, err, ErrTerminal)
}

func TestRunCancelDuringStartupIsCleanStop(t *testing.T) {
	h := newHarness(t)
	h.opts.Docker = &fakeDocker{fails: 1 << 30} // never answers
	ctx, cancel := context.WithCancel(t.Context())
	opts := h.opts
	opts.IMDS = h.imds
	opts.dockerBackoff = time.Hour
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.cfg, opts) }()
	require.Eventually(t, func() bool {
		d := h.opts.Docker.(*fakeDocker)
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.calls > 0
	}, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}
