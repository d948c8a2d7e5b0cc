package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// pollEndpointTTL is how long a DiscoverPollEndpoint answer is reused.
const pollEndpointTTL = 12 * time.Hour

// pollEndpoints caches DiscoverPollEndpoint for the ACS (and later TCS)
// sessions. The answer is reused for up to 12 h while connections succeed;
// after a failed connection the next call asks the backend again, and when
// that fails too the cached (even expired) answer is the fallback.
type pollEndpoints struct {
	api                    ecsAPI
	cluster, containerInst string
	log                    *slog.Logger
	now                    func() time.Time

	mu        sync.Mutex
	acs       string
	telemetry string
	fetched   time.Time
	// stale is set when an endpoint was handed out and no connection
	// succeeded since: the endpoint may be wrong, so refresh it.
	stale bool
	// telemetryStale is stale for the telemetry endpoint (telemetry.go).
	telemetryStale bool
}

func newPollEndpoints(api ecsAPI, cluster, arn string, log *slog.Logger) *pollEndpoints {
	return &pollEndpoints{api: api, cluster: cluster, containerInst: arn, log: log, now: time.Now}
}

// ACS returns the ACS endpoint (acs.Options.DiscoverEndpoint).
func (p *pollEndpoints) ACS(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.acs != "" && !p.stale && p.now().Sub(p.fetched) < pollEndpointTTL {
		p.stale = true
		return p.acs, nil
	}
	out, err := p.api.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{
		Cluster:           aws.String(p.cluster),
		ContainerInstance: aws.String(p.containerInst),
	})
	if err == nil && aws.ToString(out.Endpoint) == "" {
		err = errors.New("the response has no endpoint")
	}
	if err != nil {
		if p.acs != "" {
			p.log.Warn("discover poll endpoint failed; using the cached endpoint",
				logging.KeyError, err, logging.KeyEndpoint, p.acs)
			p.stale = true
			return p.acs, nil
		}
		return "", fmt.Errorf("discover poll endpoint: %w", err)
	}
	p.acs, p.telemetry = aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint)
	p.fetched = p.now()
	p.stale = true
	return p.acs, nil
}

// Connected records that a connection to the handed-out endpoint succeeded
// (acs.Options.OnConnected), so the cache stays valid.
func (p *pollEndpoints) Connected() {
	p.mu.Lock()
	p.stale = false
	p.mu.Unlock()
}
