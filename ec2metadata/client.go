// Package ec2metadata is the agent's client for the EC2 instance metadata
// service (IMDS): the IMDSv2 session token with an IMDSv1 fallback, the
// instance identity used to register with ECS, and the fallbacks that keep the
// agent going where IMDS is partial (private clouds without dynamic data) or
// missing altogether (no metadata service, a configured region instead).
//
// It is written on plain net/http rather than aws-sdk-go-v2/feature/ec2/imds.
// The SDK client hides the decisions this package exists to make: it retries
// internally with its own backoff (which fights the single startup budget of
// Resolve), it switches to IMDSv1 for good after any failed token send (so a
// service that was still booting leaves the client on IMDSv1), it reports a
// 404 as a generic operation error, and its configuration comes from the
// shared AWS config loader. The protocol itself is three headers and two verbs, so owning
// it keeps every fallback explicit and testable.
package ec2metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Environment variables shared with the AWS SDKs and CLI, so that an operator
// who already points them at a metadata endpoint gets the same behaviour here.
const (
	EnvEndpoint     = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	EnvEndpointMode = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
	EnvDisabled     = "AWS_EC2_METADATA_DISABLED"
)

const (
	// DefaultEndpoint is the link-local IPv4 address of IMDS.
	DefaultEndpoint = "http://169.254.169.254"
	// defaultEndpointIPv6 is used when EnvEndpointMode is "IPv6", as the SDKs do.
	defaultEndpointIPv6 = "http://[fd00:ec2::254]"

	// DefaultRequestTimeout bounds each HTTP request. IMDS answers in
	// milliseconds; a short bound lets Resolve retry several times within its
	// budget instead of hanging on one dropped packet.
	DefaultRequestTimeout = time.Second

	tokenPath      = "/latest/api/token"
	metadataPrefix = "/latest/meta-data/"
	dynamicPrefix  = "/latest/dynamic/"

	headerToken    = "X-aws-ec2-metadata-token"
	headerTokenTTL = "X-aws-ec2-metadata-token-ttl-seconds"

	// defaultTokenTTL is the longest TTL IMDS grants (6 h).
	defaultTokenTTL = 6 * time.Hour
	// maxTokenRefreshMargin caps how early a token is refreshed before expiry,
	// so a request never races the expiry on the server side.
	maxTokenRefreshMargin = 5 * time.Minute

	// maxBody bounds what is read from IMDS; the largest value we read (the
	// identity document) is well under 1 KiB.
	maxBody = 1 << 20
)

// logKeyIMDSRegion names the region IMDS reported when the configured one wins.
const logKeyIMDSRegion = "imdsRegion"

var (
	// ErrUnavailable means the metadata service could not be reached: the
	// connection was refused or timed out, or IMDS is disabled by
	// AWS_EC2_METADATA_DISABLED.
	ErrUnavailable = errors.New("ec2 metadata service unavailable")
	// ErrNotFound means IMDS answered 404 for the path: the value does not
	// exist on this instance (for example dynamic data on a private cloud).
	ErrNotFound = errors.New("ec2 metadata: not found")
	// ErrNoRegion means no region could be determined: none was configured and
	// IMDS did not provide one. Its message tells the operator to set
	// AWS_DEFAULT_REGION.
	ErrNoRegion = errors.New("no region")
)

// StatusError is an unexpected HTTP status from IMDS. A 404 matches
// ErrNotFound with errors.Is.
type StatusError struct {
	Method, Path string
	StatusCode   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ec2 metadata: %s %s: HTTP %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// Options configure a Client. The zero value talks to the real IMDS.
type Options struct {
	// Endpoint is the base URL of IMDS. "" means $AWS_EC2_METADATA_SERVICE_ENDPOINT,
	// else http://169.254.169.254 (or the IPv6 address when
	// $AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).
	Endpoint string
	// HTTPClient is used for every request. nil means a client that never
	// uses an HTTP proxy: IMDS is link-local and a proxy cannot reach it.
	HTTPClient *http.Client
	// Logger receives warnings about fallbacks. nil discards them.
	Logger *slog.Logger
	// RequestTimeout bounds each HTTP request; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Client talks to IMDS. It is safe for concurrent use.
type Client struct {
	endpoint       string
	disabled       bool
	httpClient     *http.Client
	log            *slog.Logger
	requestTimeout time.Duration
	tokenTTL       time.Duration
	now            func() time.Time // replaced in tests of token expiry

	// mu guards the session state below. It is held while a token is fetched
	// so that concurrent callers share one PUT instead of racing.
	mu          sync.Mutex
	token       string
	tokenExpiry time.Time
	v1          bool // the service does not issue tokens; use IMDSv1
}

// New returns a Client. It reads AWS_EC2_METADATA_DISABLED and, when
// opts.Endpoint is empty, AWS_EC2_METADATA_SERVICE_ENDPOINT(_MODE).
func New(opts Options) *Client {
	c := &Client{
		endpoint:       strings.TrimRight(endpointFromEnv(opts.Endpoint), "/"),
		disabled:       strings.EqualFold(strings.TrimSpace(os.Getenv(EnvDisabled)), "true"),
		httpClient:     opts.HTTPClient,
		log:            opts.Logger,
		requestTimeout: opts.RequestTimeout,
		tokenTTL:       defaultTokenTTL,
		now:            time.Now,
	}
	if c.httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		c.httpClient = &http.Client{Transport: tr}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = DefaultRequestTimeout
	}
	return c
}

func endpointFromEnv(explicit string) string {
	if e := strings.TrimSpace(explicit); e != "" {
		return e
	}
	if e := strings.TrimSpace(os.Getenv(EnvEndpoint)); e != "" {
		return e
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv(EnvEndpointMode)), "IPv6") {
		return defaultEndpointIPv6
	}
	return DefaultEndpoint
}

// Endpoint returns the base URL the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// GetMetadata returns the value at /latest/meta-data/<path>, for example
// "instance-id" or "placement/availability-zone".
func (c *Client) GetMetadata(ctx context.Context, path string) (string, error) {
	return c.get(ctx, metadataPrefix+strings.TrimLeft(path, "/"))
}

// GetDynamicData returns the value at /latest/dynamic/<path>, for example
// "instance-identity/document".
func (c *Client) GetDynamicData(ctx context.Context, path string) (string, error) {
	return c.get(ctx, dynamicPrefix+strings.TrimLeft(path, "/"))
}

// get performs an authenticated GET. A 401 means the token expired early or
// the service started requiring IMDSv2 after we fell back to IMDSv1: in both
// cases the token is fetched again and the request retried once.
func (c *Client) get(ctx context.Context, path string) (string, error) {
	if c.disabled {
		return "", fmt.Errorf("%w: disabled by %s=true", ErrUnavailable, EnvDisabled)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.sessionToken(ctx)
		if errors.Is(err, errTokenTimeout) {
			// A token PUT that times out while the service is otherwise up is
			// what a too-low PUT response hop limit looks like (the agent in a
			// bridge-mode container). Try IMDSv1 for this request; only
			// remember it once IMDSv1 actually answers.
			return c.getV1AfterTokenTimeout(ctx, path, err)
		}
		if err != nil {
			return "", err
		}
		status, body, err := c.do(ctx, http.MethodGet, path, tok)
		if err != nil {
			return "", err
		}
		switch {
		case status == http.StatusOK:
			return body, nil
		case status == http.StatusUnauthorized && attempt == 0:
			c.invalidateToken(tok == "")
			continue
		default:
			return "", &StatusError{Method: http.MethodGet, Path: path, StatusCode: status}
		}
	}
}

func (c *Client) getV1AfterTokenTimeout(ctx context.Context, path string, tokenErr error) (string, error) {
	status, body, err := c.do(ctx, http.MethodGet, path, "")
	if err != nil {
		return "", tokenErr
	}
	if status != http.StatusOK {
		return "", &StatusError{Method: http.MethodGet, Path: path, StatusCode: status}
	}
	c.mu.Lock()
	if !c.v1 {
		c.log.Warn("IMDSv2 token request timed out but IMDSv1 answers; using IMDSv1 (is the PUT response hop limit too low?)",
			logging.KeyEndpoint, c.endpoint)
	}
	c.v1 = true
	c.mu.Unlock()
	return body, nil
}

// errTokenTimeout marks a token PUT that timed out (as opposed to a refused
// connection, which means nothing listens at the endpoint).
var errTokenTimeout = errors.New("ec2 metadata: token request timed out")

// sessionToken returns the token to send, or "" in IMDSv1 mode. It fetches a
// new token when none is cached or the cached one is close to expiry.
func (c *Client) sessionToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v1 {
		return "", nil
	}
	if c.token != "" && c.now().Before(c.tokenExpiry) {
		return c.token, nil
	}
	status, body, ttl, err := c.putToken(ctx)
	switch {
	case err != nil && isTimeout(err) && ctx.Err() == nil:
		return "", fmt.Errorf("%w: %w", errTokenTimeout, err)
	case err != nil:
		return "", err
	case status == http.StatusOK && strings.TrimSpace(body) != "":
		c.token = strings.TrimSpace(body)
		c.tokenExpiry = c.now().Add(ttl - refreshMargin(ttl))
		return c.token, nil
	case status == http.StatusOK:
		return "", fmt.Errorf("ec2 metadata: PUT %s: empty token", tokenPath)
	case tokensUnsupported(status):
		// The service does not implement IMDSv2 (older or third-party
		// metadata services) or a firewall forbids the PUT: use IMDSv1 from
		// now on. A later 401 switches back (see get).
		c.log.Warn("IMDSv2 token request refused; falling back to IMDSv1",
			logging.KeyEndpoint, c.endpoint, logging.KeyStatus, status)
		c.v1 = true
		return "", nil
	default:
		return "", &StatusError{Method: http.MethodPut, Path: tokenPath, StatusCode: status}
	}
}

// tokensUnsupported reports whether a token PUT status means "this service has
// no IMDSv2". The SDKs fall back on 403, 404 and 405; 501 is what some
// non-AWS metadata services and proxies answer for an unknown method. A 400
// is not among them: IMDS answers it for a bad TTL header, which is our bug,
// and 5xx is a transient failure to retry.
func tokensUnsupported(status int) bool {
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}

// refreshMargin is how long before expiry a token is replaced: a tenth of its
// TTL, at most five minutes.
func refreshMargin(ttl time.Duration) time.Duration {
	return min(ttl/10, maxTokenRefreshMargin)
}

// invalidateToken forgets the cached token after a 401. wasV1 means the 401
// answered an IMDSv1 request: the service now requires tokens.
func (c *Client) invalidateToken(wasV1 bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wasV1 && c.v1 {
		c.log.Warn("IMDSv1 request rejected; switching back to IMDSv2 tokens", logging.KeyEndpoint, c.endpoint)
		c.v1 = false
	}
	c.token = ""
	c.tokenExpiry = time.Time{}
}

func (c *Client) putToken(ctx context.Context) (status int, body string, ttl time.Duration, err error) {
	ttl = c.tokenTTL
	hdr := http.Header{headerTokenTTL: []string{strconv.Itoa(int(ttl / time.Second))}}
	resp, body, err := c.roundTrip(ctx, http.MethodPut, tokenPath, hdr)
	if err != nil {
		return 0, "", 0, err
	}
	// The service may grant less than asked; trust what it says.
	if s, perr := strconv.Atoi(resp.Header.Get(headerTokenTTL)); perr == nil && s > 0 {
		ttl = time.Duration(s) * time.Second
	}
	return resp.StatusCode, body, ttl, nil
}

func (c *Client) do(ctx context.Context, method, path, token string) (int, string, error) {
	hdr := http.Header{}
	if token != "" {
		hdr.Set(headerToken, token)
	}
	resp, body, err := c.roundTrip(ctx, method, path, hdr)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, body, nil
}

// roundTrip sends one request bounded by the per-request timeout. Transport
// failures wrap ErrUnavailable; the caller's own cancellation is returned as
// the context's error so that callers can tell "IMDS is down" from "we were
// asked to stop".
func (c *Client) roundTrip(ctx context.Context, method, path string, hdr http.Header) (*http.Response, string, error) {
	rctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, c.endpoint+path, nil)
	if err != nil {
		return nil, "", fmt.Errorf("ec2 metadata: %s %s: %w", method, path, err)
	}
	req.Header = hdr
	resp, err := c.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("ec2 metadata: %s %s: %w", method, path, ctx.Err())
		}
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("ec2 metadata: %s %s: %w", method, path, ctx.Err())
		}
		return nil, "", fmt.Errorf("%w: reading %s %s: %w", ErrUnavailable, method, path, err)
	}
	return resp, string(b), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
