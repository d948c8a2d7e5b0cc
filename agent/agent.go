// Package agent wires the ECS agent together and owns every goroutine it
// starts. Run follows the incumbent's start-up order for the parts that
// exist so far:
//
//	Docker version check (retry until the engine answers; API >= 1.21)
//	→ host resources → EC2 identity (IMDS, 5 s budget, configured region fallback)
//	→ state (agent.db or memory; host / cluster checks)
//	→ RegisterContainerInstance (re-register with the saved ARN)
//	→ persist metadata → introspection server → image manager and task engine
//	(wait until the engine has reconciled its saved tasks with Docker)
//	→ state-change submitter → telemetry (Prometheus, stats collector, TCS)
//	→ task metadata endpoint → payload handler → ACS session (until ctx ends)
//
// On ctx cancel the supervisor stops the long-lived goroutines in reverse
// start order, then the state file is closed. Containers are never touched
// on shutdown: an agent restart must not stop tasks.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/open-ecs/ecs-agent/acs"
	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/agent/introspection"
	"github.com/open-ecs/ecs-agent/agent/statechange"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/tcs"
	"github.com/open-ecs/ecs-agent/version"
)

// identityWait is the IMDS budget at start-up.
const identityWait = 5 * time.Second

// Docker connection retry (the incumbent's MustInit: 2 s..200 s ×1.5).
const (
	dockerBackoffMin    = 2 * time.Second
	dockerBackoffMax    = 200 * time.Second
	dockerBackoffFactor = 1.5
	dockerCallTimeout   = 30 * time.Second
)

// shutdownGrace bounds how long each component gets to stop.
const shutdownGrace = 3 * time.Second

// engineShutdownGrace is longer: task workers finish the Docker call and the
// state write they are in before the state file is closed.
const engineShutdownGrace = 15 * time.Second

// DockerClient is what Run needs from the Docker engine.
type DockerClient interface {
	Version(ctx context.Context) (dockerapi.VersionInfo, error)
}

// IdentityResolver is what Run needs from the EC2 metadata service.
type IdentityResolver interface {
	Resolve(ctx context.Context, configuredRegion string, wait time.Duration) (ec2metadata.Identity, error)
	// Endpoint is the IMDS base URL, also used by the SDK credential chain.
	Endpoint() string
}

// Status describes a registered, serving agent.
type Status struct {
	Cluster              string
	ContainerInstanceARN string
	AvailabilityZone     string
	IntrospectionAddr    string // the bound address (useful with port 0)
	TaskMetadataAddr     string // the bound address of the task metadata endpoint
}

// Options are Run's dependencies. The zero value is production.
type Options struct {
	Logger *slog.Logger // nil discards
	// Docker replaces the engine client built from cfg.DockerEndpoint.
	Docker DockerClient
	// IMDS replaces the EC2 metadata client.
	IMDS IdentityResolver
	// Runtime replaces the Docker client as the task engine's container
	// runtime (tests use engine/enginetest's fake). Required when Docker is
	// set to something that is not a runtime.Runtime.
	Runtime runtime.Runtime
	// OnReady is called once registration is done, the task engine is ready
	// and the ACS session has started.
	OnReady func(Status)
	// Credentials replace the SDK's default chain (environment, shared
	// files, instance role) for the ECS API, ACS and TCS. Many agents in one
	// process (agent/fleetsim) cannot each have their own environment.
	Credentials aws.CredentialsProvider

	// Test seams.
	newTaskSystem  func(engineDeps) (taskSystem, error)
	memInfoPath    string
	registerPolicy *retryPolicy
	dockerBackoff  time.Duration
	metricsAddr    string // the Prometheus listener; "" is 127.0.0.1:51680
}

// Run starts the agent and blocks until ctx is cancelled (nil) or a
// component fails. Errors for which a restart does not help match
// ErrTerminal. A cancel during start-up (SIGTERM while waiting for Docker or
// the backend) is a clean stop and returns nil.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := run(ctx, cfg, opts, log)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrTerminal) {
		log.Info("stopped during start-up", logging.KeyError, err)
		return nil
	}
	return err
}

func run(ctx context.Context, cfg *config.Config, opts Options, baseLog *slog.Logger) error {
	log := baseLog
	log.Info("starting", logging.KeyVersion, version.String(), logging.KeyCluster, cfg.Cluster)

	docker, rt := opts.Docker, opts.Runtime
	if docker == nil {
		c, err := dockerapi.New(cfg.DockerEndpoint)
		if err != nil {
			return terminal(fmt.Errorf("docker endpoint (DOCKER_HOST): %w", err))
		}
		defer c.Close()
		docker = c
	}
	if rt == nil {
		r, ok := docker.(runtime.Runtime)
		if !ok {
			return errors.New("agent: Options.Runtime is required when Options.Docker is not a container runtime")
		}
		rt = r
	}
	dv, err := dockerVersion(ctx, docker, opts.dockerBackoff, log)
	if err != nil {
		return err
	}
	log.Info("docker engine", logging.KeyDockerVersion, dv.ServerVersion, "apiVersion", dv.APIVersion)

	memInfo := opts.memInfoPath
	if memInfo == "" {
		memInfo = defaultMemInfoPath
	}
	res, err := hostResources(memInfo, cfg.ReservedMemory, cfg.ReservedPorts, cfg.ReservedPortsUDP)
	if err != nil {
		return terminal(err)
	}
	cgroups, noCgroups := taskCgroups(ctx, cfg, docker, log)
	audit, err := openAuditLog(cfg)
	if err != nil {
		return terminal(err)
	}
	if audit != nil {
		defer audit.Close()
	}

	imds := opts.IMDS
	if imds == nil {
		imds = ec2metadata.New(ec2metadata.Options{Logger: log})
	}
	ident, err := resolveIdentity(ctx, cfg, imds)
	if err != nil {
		return err
	}
	log.Info("instance identity", logging.KeyRegion, ident.Region, logging.KeyInstanceID, ident.InstanceID,
		"availabilityZone", ident.AvailabilityZone)

	store, err := openStore(cfg.DataDir, cfg.Checkpoint, log)
	if err != nil {
		return err
	}
	defer store.Close()
	saved, err := loadState(store, cfg.DataDir, cfg.Cluster, ident.InstanceID, log)
	if err != nil {
		return err
	}
	instanceID := ident.InstanceID
	if instanceID == "" {
		instanceID = saved.EC2InstanceID // IMDS unreachable: keep the saved one
	}

	acsTLS, err := tlsConfig(cfg.AcceptInsecureCert, os.Getenv(caBundleEnv))
	if err != nil {
		return terminal(err)
	}
	awsCfg, err := newAWSConfig(ctx, ident.Region, imds.Endpoint(), cfg.AcceptInsecureCert)
	if err != nil {
		return err
	}
	if opts.Credentials != nil {
		awsCfg.Credentials = opts.Credentials
	}
	if err := checkCredentials(ctx, awsCfg.Credentials, ident.InstanceID != ""); err != nil {
		return err
	}
	api := newECSClient(awsCfg, cfg.APIEndpoint)
	pol := defaultRegisterPolicy
	if opts.registerPolicy != nil {
		pol = *opts.registerPolicy
	}
	var clientToken string
	if saved.ContainerInstanceARN == "" {
		if clientToken, err = registrationClientToken(store); err != nil {
			return err
		}
	}
	reg, err := register(ctx, api, registerRequest{
		Cluster:     cfg.Cluster,
		RestoredARN: saved.ContainerInstanceARN,
		ClientToken: clientToken,
		Identity:    ident,
		Resources:   res,
		Docker:      dv,
		Custom:      cfg.InstanceAttributes,
		Caps:        engineCapabilities(cfg, dv, hostFeatures{taskCgroups: cgroups != nil}),
		Tags:        cfg.ContainerInstanceTags,
	}, pol, log)
	if err != nil {
		return err
	}
	log = log.With(logging.KeyContainerInstance, reg.ContainerInstanceARN)
	log.Info("registered container instance", logging.KeyCluster, cfg.Cluster)
	if err := saveRegistration(store, cfg.Cluster, instanceID, reg); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.IntrospectionAddr)
	if err != nil {
		return fmt.Errorf("introspection server (ECS_INTROSPECTION_ADDR=%s): %w", cfg.IntrospectionAddr, err)
	}
	tln, err := net.Listen("tcp", cfg.TaskMetadataAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("task metadata endpoint (ECS_TASK_METADATA_ADDR=%s): %w", cfg.TaskMetadataAddr, err)
	}
	build := opts.newTaskSystem
	if build == nil {
		build = newTaskSystem
	}
	prom := newPrometheus(cfg) // nil unless ECS_ENABLE_PROMETHEUS_METRICS
	tasks, err := build(engineDeps{Runtime: prom.Runtime(rt), Store: store, Config: cfg, Resources: res, Logger: log,
		Cgroups: cgroups, NoCgroups: noCgroups, MetadataFiles: metadataFiles(cfg, reg)})
	if err != nil {
		_ = ln.Close()
		_ = tln.Close()
		return terminal(fmt.Errorf("task engine: %w", err))
	}
	intro := introspection.New(introspection.Options{Logger: log, Tasks: introspectionTasks(tasks.Engine)})
	intro.Publish(&introspection.Snapshot{Metadata: introspection.MetadataResponse{
		Cluster:              cfg.Cluster,
		ContainerInstanceArn: reg.ContainerInstanceARN,
		Version:              version.String(),
	}})

	sup := newSupervisor(ctx, log)
	defer sup.stop(shutdownGrace)
	sup.start("introspection", func(ctx context.Context) error { return intro.Serve(ctx, ln) })

	if err := startTaskSystem(ctx, sup, tasks, log); err != nil {
		_ = tln.Close()
		return err
	}
	sup.start("statechange", statechange.New(statechange.Options{
		Source: tasks.Engine, API: prom.StateChangeAPI(api), Cluster: cfg.Cluster, Logger: baseLog,
	}).Run)
	handler := newACSHandler(tasks.Engine, nil, log)
	creds := credentials.New(nil)
	handler.creds = creds

	endpoints := newPollEndpoints(api, cfg.Cluster, reg.ContainerInstanceARN, log)
	var telemetry *tcs.Session // set before the ACS session runs
	session := acs.NewSession(acs.Options{
		DiscoverEndpoint:     endpoints.ACS,
		OnConnected:          endpoints.Connected,
		Cluster:              cfg.Cluster,
		ContainerInstanceARN: reg.ContainerInstanceARN,
		AgentVersion:         version.Version,
		AgentHash:            version.GitHash,
		DockerVersion:        dv.ServerVersion, // acs adds the "DockerVersion: " prefix of the query parameter
		Region:               ident.Region,
		Credentials:          awsCfg.Credentials,
		TLSConfig:            acsTLS,
		Logger:               baseLog, // acs adds the instance ARN itself
		Handler:              handler.Handle,
		OnInactiveInstance:   func() { telemetry.Deregistered() }, // TCS disconnects too
	})
	// The handler replies through the session it serves; Handle is only
	// called once session.Run has started.
	handler.send = session
	telemetry, collector, err := startTelemetry(sup, telemetryDeps{cfg: cfg, runtime: rt, docker: docker, tasks: tasks.Engine,
		endpoints: endpoints, acs: session, arn: reg.ContainerInstanceARN, region: ident.Region,
		dockerVer: dv.ServerVersion, creds: awsCfg.Credentials, tlsConfig: acsTLS, log: baseLog}, prom, opts.metricsAddr)
	if err != nil {
		_ = tln.Close()
		return terminal(err)
	}
	tsrv, err := newTaskServer(taskServerInput{Config: cfg, Registration: reg, Tasks: tasks.Engine,
		Credentials: creds, Stats: collector, API: api, Audit: audit, Logger: log})
	if err != nil {
		_ = tln.Close()
		return fmt.Errorf("task metadata endpoint: %w", err)
	}
	// Containers find their task through the engine's snapshots, so the
	// endpoint serves once the engine has reconciled its tasks; before the
	// ACS session, which brings the credentials.
	sup.start("taskserver", func(ctx context.Context) error { return tsrv.Serve(ctx, tln) })
	sup.start("credentials", pruneCredentials(creds, tasks.Engine, log))
	sup.start("payloads", handler.Run)
	sup.start("acs", session.Run)

	if opts.OnReady != nil {
		opts.OnReady(Status{
			Cluster:              cfg.Cluster,
			ContainerInstanceARN: reg.ContainerInstanceARN,
			AvailabilityZone:     reg.AvailabilityZone,
			IntrospectionAddr:    ln.Addr().String(),
			TaskMetadataAddr:     tln.Addr().String(),
		})
	}

	err = sup.wait()
	log.Info("shutting down")
	if errors.Is(err, acs.ErrTerminal) {
		return terminal(err)
	}
	return err
}

// resolveIdentity asks IMDS for the instance identity. In external mode
// (ECS Anywhere) there is no IMDS: the configured region is used and the
// identity document is sent empty.
func resolveIdentity(ctx context.Context, cfg *config.Config, imds IdentityResolver) (ec2metadata.Identity, error) {
	if cfg.External {
		return ec2metadata.Identity{Region: cfg.AWSRegion}, nil
	}
	ident, err := imds.Resolve(ctx, cfg.AWSRegion, identityWait)
	if err != nil {
		if errors.Is(err, ec2metadata.ErrNoRegion) {
			return ec2metadata.Identity{}, terminal(err)
		}
		return ec2metadata.Identity{}, fmt.Errorf("instance identity: %w", err)
	}
	if ident.Region == "" {
		return ec2metadata.Identity{}, terminal(errors.New("instance identity: no region; set AWS_DEFAULT_REGION"))
	}
	return ident, nil
}

// dockerVersion waits for the engine to answer, with backoff, and enforces
// the minimum API version.
func dockerVersion(ctx context.Context, docker DockerClient, firstWait time.Duration, log *slog.Logger) (dockerapi.VersionInfo, error) {
	if firstWait == 0 {
		firstWait = dockerBackoffMin
	}
	bo := backoff.New(firstWait, dockerBackoffMax, dockerBackoffFactor, 0.2)
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, dockerCallTimeout)
		v, err := docker.Version(cctx)
		cancel()
		if err == nil {
			if err := v.CheckMinAPIVersion(); err != nil {
				return v, terminal(err)
			}
			return v, nil
		}
		if ctx.Err() != nil {
			return dockerapi.VersionInfo{}, fmt.Errorf("docker engine: %w", ctx.Err())
		}
		wait := bo.Next()
		log.Warn("docker engine is not answering; retrying", logging.KeyError, err,
			logging.KeyAttempt, attempt, logging.KeyBackoff, wait)
		if !backoff.Sleep(ctx, wait) {
			return dockerapi.VersionInfo{}, fmt.Errorf("docker engine: %w (last error: %w)", ctx.Err(), err)
		}
	}
}
