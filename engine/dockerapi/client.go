// Package dockerapi is the only package that imports the Docker client. It
// adapts the few Engine API calls the agent makes to small, agent-owned
// types, so that consumers declare narrow interfaces and tests use fakes.
package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/client"
)

// DefaultEndpoint is used when DOCKER_HOST is empty.
const DefaultEndpoint = "unix:///var/run/docker.sock"

// MinAPIVersion is the oldest Docker Engine API the agent works with
// (the incumbent's dockerclient.MinDockerAPIVersion).
const MinAPIVersion = "1.21"

// ErrAPITooOld means the engine's API version is below MinAPIVersion; the
// agent treats it as terminal because retrying cannot fix it.
var ErrAPITooOld = errors.New("docker engine API version too old")

// VersionInfo is what the agent needs from GET /version.
type VersionInfo struct {
	ServerVersion string // engine version, e.g. "20.10.24+dfsg1"
	APIVersion    string // highest API version the engine speaks, e.g. "1.41"
	MinAPIVersion string // lowest API version the engine accepts; "" on very old engines
}

// Client talks to one Docker engine. It is safe for concurrent use.
type Client struct {
	c        *client.Client
	stream   *client.Client // for the stats streams: a connection per request (newStreamClient)
	endpoint string
}

// New returns a client for endpoint (DOCKER_HOST syntax; "" means
// DefaultEndpoint). It negotiates the API version with the engine on the
// first call, so a newer client library works with an older engine. New
// does not contact the engine.
func New(endpoint string) (*Client, error) {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	c, err := client.NewClientWithOpts(
		client.WithHost(endpoint),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", endpoint, err)
	}
	stream, err := newStreamClient(endpoint)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", endpoint, err)
	}
	return &Client{c: c, stream: stream, endpoint: endpoint}, nil
}

// Endpoint returns the engine address the client uses.
func (c *Client) Endpoint() string { return c.endpoint }

// Ping checks that the engine answers.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.c.Ping(ctx); err != nil {
		return fmt.Errorf("ping docker at %s: %w", c.endpoint, err)
	}
	return nil
}

// Version returns the engine's version and API range.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	v, err := c.c.ServerVersion(ctx)
	if err != nil {
		return VersionInfo{}, fmt.Errorf("docker version at %s: %w", c.endpoint, err)
	}
	return VersionInfo{ServerVersion: v.Version, APIVersion: v.APIVersion, MinAPIVersion: v.MinAPIVersion}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error { return errors.Join(c.c.Close(), c.stream.Close()) }

// CheckMinAPIVersion returns an ErrAPITooOld-wrapped error when the engine
// cannot speak MinAPIVersion.
func (v VersionInfo) CheckMinAPIVersion() error {
	if v.APIVersion == "" || CompareAPIVersions(v.APIVersion, MinAPIVersion) < 0 {
		return fmt.Errorf("%w: engine %s speaks API %q, the agent needs at least %s",
			ErrAPITooOld, v.ServerVersion, v.APIVersion, MinAPIVersion)
	}
	return nil
}

// Supports reports whether the engine accepts API version api.
func (v VersionInfo) Supports(api string) bool {
	if CompareAPIVersions(api, v.APIVersion) > 0 {
		return false
	}
	return v.MinAPIVersion == "" || CompareAPIVersions(api, v.MinAPIVersion) >= 0
}

// CompareAPIVersions compares dotted API versions numerically ("1.9" <
// "1.21"), returning -1, 0 or 1. Missing or non-numeric parts count as 0.
func CompareAPIVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}
