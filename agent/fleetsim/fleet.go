// Package fleetsim runs a fleet of simulated container instances in one
// process, for tests and benchmarks of the control plane at scale.
//
// Each simulated instance is the real agent (agent.Run) with only the host
// faked: engine/enginetest's state-keeping runtime instead of Docker, a
// fixed Docker version, and an instance identity instead of the EC2
// metadata service. Everything the control plane sees is the agent's own
// code: RegisterContainerInstance through the agent's SDK client (SigV4),
// its ACS session (acks after persisting a payload), its task engine and
// agent.db in a state directory of its own, its state-change submitter and
// its TCS session.
//
// Only tests and benchmarks import this package; it imports the agent, so
// nothing in the agent may import it.
package fleetsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/open-ecs/ecs-agent/config"
)

// DefaultStartTimeout bounds Start when Options.StartTimeout is zero.
const DefaultStartTimeout = 5 * time.Minute

// Options describe a fleet. Endpoint, Region, Cluster, Credentials, Size and
// DataDir are required.
type Options struct {
	// Endpoint is the control plane's ECS API base URL (ECS_BACKEND_HOST).
	Endpoint string
	Region   string
	Cluster  string
	// Credentials sign every instance's API calls and ACS and TCS
	// handshakes; the control plane must accept them.
	Credentials aws.CredentialsProvider
	// Size is how many instances to run.
	Size int
	// DataDir holds one state directory per instance, named by its
	// instance ID.
	DataDir string
	// Images are present on every instance's runtime; tasks that use
	// other images fail to pull. Instances prefer cached images, so no
	// pull happens for these.
	Images []string
	// Parallel bounds how many instances start at once; 0 starts all.
	Parallel int
	// StartTimeout bounds how long Start waits for every instance to be
	// registered and serving; 0 is DefaultStartTimeout.
	StartTimeout time.Duration
	// Configure, if set, adjusts each instance's agent configuration
	// after the fleet's own settings.
	Configure func(*config.Config)
	// Logger receives every instance's log, each record tagged with its
	// instance ID; nil discards.
	Logger *slog.Logger
}

func (o Options) validate() error {
	switch {
	case o.Endpoint == "":
		return errors.New("fleetsim: Options.Endpoint is empty")
	case o.Region == "":
		return errors.New("fleetsim: Options.Region is empty")
	case o.Cluster == "":
		return errors.New("fleetsim: Options.Cluster is empty")
	case o.Credentials == nil:
		return errors.New("fleetsim: Options.Credentials is nil")
	case o.Size < 1:
		return fmt.Errorf("fleetsim: Options.Size is %d, want at least 1", o.Size)
	case o.DataDir == "":
		return errors.New("fleetsim: Options.DataDir is empty")
	case o.Parallel < 0:
		return fmt.Errorf("fleetsim: Options.Parallel is %d, want 0 or more", o.Parallel)
	}
	return nil
}

// Fleet is a set of running simulated instances.
type Fleet struct {
	instances []*Instance
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

// Start starts opts.Size instances and returns once every one has
// registered, its task engine is ready and its ACS session has started.
// The instances run until Close or until ctx ends. If any instance fails to
// start, Start stops the others and returns the first error.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = DefaultStartTimeout
	}
	// A random part in every instance ID keeps two fleets on one control
	// plane apart: the control plane returns the same container instance
	// for the same EC2 instance ID.
	seed, err := fleetSeed()
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	f := &Fleet{cancel: cancel}
	parallel := opts.Parallel
	if parallel == 0 {
		parallel = opts.Size
	}
	slots := make(chan struct{}, parallel)
	for i := range opts.Size {
		id := fmt.Sprintf("i-%s%08x", seed, i)
		inst := newInstance(id, filepath.Join(opts.DataDir, id), opts)
		f.instances = append(f.instances, inst)
		go func() {
			select {
			case slots <- struct{}{}:
			case <-runCtx.Done():
				inst.finish(nil) // closed before its turn came
				return
			}
			// The slot is given back once the instance is ready or has stopped.
			go func() {
				select {
				case <-inst.ready:
				case <-inst.done:
				}
				<-slots
			}()
			inst.run(runCtx)
		}()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, inst := range f.instances {
		select {
		case <-inst.ready:
		case <-inst.done:
			err := fmt.Errorf("fleetsim: instance %s stopped during start-up: %w", inst.ID, inst.err)
			return nil, errors.Join(err, f.Close())
		case <-deadline.C:
			err := fmt.Errorf("fleetsim: %d of %d instances not ready after %s", f.notReady(), opts.Size, timeout)
			return nil, errors.Join(err, f.Close())
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("fleetsim: start: %w", ctx.Err()), f.Close())
		}
	}
	return f, nil
}

func fleetSeed() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("fleetsim: instance ID seed: %w", err)
	}
	return hex.EncodeToString(b[:])[:9], nil // 9 + 8 hex digits: an EC2 ID's 17
}

func (f *Fleet) notReady() int {
	n := 0
	for _, inst := range f.instances {
		if !inst.isReady() {
			n++
		}
	}
	return n
}

// Instances are the fleet's instances, in start order.
func (f *Fleet) Instances() []*Instance { return f.instances }

// RunningContainers counts the running containers on every instance's
// runtime.
func (f *Fleet) RunningContainers() int {
	n := 0
	for _, inst := range f.instances {
		n += inst.RunningContainers()
	}
	return n
}

// Close stops every instance, as SIGTERM stops an agent: containers keep
// running on the fake runtimes. It returns the instances' errors other
// than a clean stop.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		var errs []error
		for _, inst := range f.instances {
			<-inst.done
			if inst.err != nil {
				errs = append(errs, fmt.Errorf("instance %s: %w", inst.ID, inst.err))
			}
		}
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}
