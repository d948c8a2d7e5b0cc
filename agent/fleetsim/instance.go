package fleetsim

import (
	"context"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/agent"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/engine/enginetest"
)

// dockerVersion is what every simulated Docker engine reports: the engine
// the real agents here run against.
var dockerVersion = dockerapi.VersionInfo{ServerVersion: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12"}

// Instance is one simulated container instance: an agent with a fake
// runtime and a state directory of its own.
type Instance struct {
	// ID is the EC2 instance ID the agent registers with.
	ID string
	// DataDir holds the instance's agent.db.
	DataDir string
	// Runtime is the instance's container runtime; tests may drive it
	// (Exit a container, Block a call).
	Runtime *enginetest.Fake

	opts  Options
	ready chan struct{} // closed once the agent is ready
	done  chan struct{} // closed once agent.Run has returned
	err   error         // Run's error; read after done

	mu     sync.Mutex
	status agent.Status
}

func newInstance(id, dataDir string, opts Options) *Instance {
	rt := enginetest.NewFake()
	for _, img := range opts.Images {
		rt.SetImage(img)
	}
	return &Instance{ID: id, DataDir: dataDir, Runtime: rt, opts: opts,
		ready: make(chan struct{}), done: make(chan struct{})}
}

// config is the instance's agent configuration: the fleet's control plane,
// its own state directory, listeners on free loopback ports, and no
// feature the fake host cannot give (task cgroups, image pulls).
func (i *Instance) config() *config.Config {
	cfg := config.Default()
	cfg.Cluster = i.opts.Cluster
	cfg.AWSRegion = i.opts.Region
	cfg.APIEndpoint = i.opts.Endpoint
	cfg.DataDir = i.DataDir
	cfg.Checkpoint = true
	cfg.IntrospectionAddr = "127.0.0.1:0"
	cfg.TaskMetadataAddr = "127.0.0.1:0"
	cfg.TaskCPUMemLimit = false
	cfg.ImagePullBehavior = "prefer-cached"
	cfg.CredentialsAuditLogDisabled = true
	if i.opts.Configure != nil {
		i.opts.Configure(cfg)
	}
	return cfg
}

// run runs the agent until ctx ends or it fails.
func (i *Instance) run(ctx context.Context) {
	err := agent.Run(ctx, i.config(), agent.Options{
		Logger:      i.opts.Logger.With("fleetInstance", i.ID),
		Docker:      fakeDocker{},
		IMDS:        identity{id: i.ID, region: i.opts.Region},
		Runtime:     i.Runtime,
		Credentials: i.opts.Credentials,
		OnReady: func(st agent.Status) {
			i.mu.Lock()
			i.status = st
			i.mu.Unlock()
			close(i.ready)
		},
	})
	i.finish(err)
}

func (i *Instance) finish(err error) {
	i.err = err
	close(i.done)
}

func (i *Instance) isReady() bool {
	select {
	case <-i.ready:
		return true
	default:
		return false
	}
}

// ARN is the container instance ARN the control plane gave the instance;
// "" before it is ready.
func (i *Instance) ARN() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status.ContainerInstanceARN
}

// IntrospectionAddr is where the instance's introspection API listens.
func (i *Instance) IntrospectionAddr() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status.IntrospectionAddr
}

// RunningContainers counts the running containers on the instance's runtime.
func (i *Instance) RunningContainers() int {
	n := 0
	for _, c := range i.Runtime.Containers() {
		if c.State == "running" {
			n++
		}
	}
	return n
}

// fakeDocker answers the agent's Docker version check.
type fakeDocker struct{}

func (fakeDocker) Version(context.Context) (dockerapi.VersionInfo, error) { return dockerVersion, nil }

// identity stands in for the EC2 metadata service: each instance has its
// own ID, in availability zone "a" of the fleet's region.
type identity struct{ id, region string }

func (m identity) Resolve(context.Context, string, time.Duration) (ec2metadata.Identity, error) {
	return ec2metadata.Identity{InstanceID: m.id, Region: m.region, AvailabilityZone: m.region + "a"}, nil
}

// Endpoint is unreachable: credentials come from Options.Credentials, never
// from an instance role.
func (identity) Endpoint() string { return "http://127.0.0.1:1" }
