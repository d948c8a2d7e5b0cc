package ec2metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Metadata and dynamic-data paths used for the instance identity.
const (
	PathInstanceID         = "instance-id"
	PathRegion             = "placement/region"
	PathAvailabilityZone   = "placement/availability-zone"
	PathAvailabilityZoneID = "placement/availability-zone-id"
	PathIdentityDocument   = "instance-identity/document"
	PathIdentitySignature  = "instance-identity/signature"
)

// Identity is what the agent needs from IMDS to register: the region to talk
// to, the instance for detecting a host change, and the signed identity
// document that ECS verifies. Any field but Region may be empty.
type Identity struct {
	InstanceID         string
	Region             string
	AvailabilityZone   string
	AvailabilityZoneID string
	// Document and Signature are sent verbatim as RegisterContainerInstance's
	// instanceIdentityDocument(Signature). Both are "" where the service has
	// no dynamic data (private clouds) or is missing; the backend decides.
	Document  string
	Signature string
}

// IdentityDocument holds the fields of the instance identity document the
// agent uses. Raw is the document exactly as served, which is what ECS needs
// to check the signature.
type IdentityDocument struct {
	Raw              string `json:"-"`
	InstanceID       string `json:"instanceId"`
	Region           string `json:"region"`
	AvailabilityZone string `json:"availabilityZone"`
	AccountID        string `json:"accountId"`
	InstanceType     string `json:"instanceType"`
	ImageID          string `json:"imageId"`
	Architecture     string `json:"architecture"`
	PrivateIP        string `json:"privateIp"`
}

// InstanceIdentityDocument fetches and parses
// /latest/dynamic/instance-identity/document. A 404 matches ErrNotFound.
func (c *Client) InstanceIdentityDocument(ctx context.Context) (IdentityDocument, error) {
	raw, err := c.GetDynamicData(ctx, PathIdentityDocument)
	if err != nil {
		return IdentityDocument{}, err
	}
	return parseIdentityDocument(raw)
}

func parseIdentityDocument(raw string) (IdentityDocument, error) {
	doc := IdentityDocument{Raw: raw}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return IdentityDocument{Raw: raw}, fmt.Errorf("ec2 metadata: parsing the instance identity document: %w", err)
	}
	return doc, nil
}

// Region returns the instance's region: from the identity document, else
// meta-data/placement/region, else derived from the availability zone. It
// returns ErrNotFound when the service reports none of them.
func (c *Client) Region(ctx context.Context) (string, error) {
	doc, err := c.InstanceIdentityDocument(ctx)
	if err == nil && doc.Region != "" {
		return doc.Region, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) && !isParseError(err) {
		return "", err
	}
	region, err := c.optionalMetadata(ctx, PathRegion)
	if err != nil || region != "" {
		return region, err
	}
	az, err := c.optionalMetadata(ctx, PathAvailabilityZone)
	if err != nil {
		return "", err
	}
	if region := RegionFromAvailabilityZone(az); region != "" {
		return region, nil
	}
	return "", fmt.Errorf("%w: the service reports no region", ErrNotFound)
}

func isParseError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// optionalMetadata returns "" and no error for a 404.
func (c *Client) optionalMetadata(ctx context.Context, path string) (string, error) {
	v, err := c.GetMetadata(ctx, path)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return strings.TrimSpace(v), err
}

// RegionFromAvailabilityZone derives the region from an AWS availability zone
// name: us-west-2a gives us-west-2, us-gov-west-1b gives us-gov-west-1, and
// the local zone us-west-2-lax-1a and the Wavelength zone
// us-east-1-wl1-bos-wlz-1 give their parent regions. A name that does not look
// like an AWS zone (OpenStack's "nova", for example) gives "", so that a bogus
// region is never invented.
func RegionFromAvailabilityZone(az string) string {
	parts := strings.Split(strings.TrimSpace(az), "-")
	// A region is two or more lowercase words and then a number: the first
	// part that starts with a digit ends it, and its digits are the number.
	for i, p := range parts {
		n := leadingDigits(p)
		if n == 0 {
			if !isLowerWord(p) {
				return ""
			}
			continue
		}
		if i < 2 {
			return ""
		}
		return strings.Join(parts[:i], "-") + "-" + p[:n]
	}
	return ""
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func isLowerWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// fetchIdentity makes one pass over the identity paths. Values the service
// does not have (404) stay empty; any other failure aborts the pass so that
// Resolve can retry it.
func (c *Client) fetchIdentity(ctx context.Context) (Identity, error) {
	var id Identity
	var err error
	// instance-id first: it also establishes the session (token or IMDSv1).
	if id.InstanceID, err = c.optionalMetadata(ctx, PathInstanceID); err != nil {
		return Identity{}, err
	}
	if id.AvailabilityZone, err = c.optionalMetadata(ctx, PathAvailabilityZone); err != nil {
		return Identity{}, err
	}
	if id.AvailabilityZoneID, err = c.optionalMetadata(ctx, PathAvailabilityZoneID); err != nil {
		return Identity{}, err
	}

	raw, err := c.GetDynamicData(ctx, PathIdentityDocument)
	switch {
	case errors.Is(err, ErrNotFound):
		// Private clouds serve meta-data but no dynamic data: register
		// without a document and let the backend decide.
		c.log.Warn("EC2 instance identity document not found; registering without one", logging.KeyEndpoint, c.endpoint)
	case err != nil:
		return Identity{}, err
	case strings.TrimSpace(raw) == "":
		// Nothing to send, and a signature alone would be meaningless.
		c.log.Warn("EC2 instance identity document is empty; registering without one", logging.KeyEndpoint, c.endpoint)
	default:
		id.Document = raw
		// A signature without its document is meaningless, so it is only
		// fetched when there is a document.
		sig, err := c.GetDynamicData(ctx, PathIdentitySignature)
		switch {
		case errors.Is(err, ErrNotFound):
			c.log.Warn("EC2 instance identity signature not found; registering without one", logging.KeyEndpoint, c.endpoint)
		case err != nil:
			return Identity{}, err
		default:
			id.Signature = sig
		}
		doc, perr := parseIdentityDocument(raw)
		if perr != nil {
			c.log.Warn("EC2 instance identity document is not valid JSON; sending it as is", logging.KeyError, perr)
		}
		// The region comes from the document, as in the incumbent agent; for
		// the instance ID and zone the meta-data paths are authoritative and
		// the document only fills gaps.
		id.Region = doc.Region
		if id.InstanceID == "" {
			id.InstanceID = doc.InstanceID
		}
		if id.AvailabilityZone == "" {
			id.AvailabilityZone = doc.AvailabilityZone
		}
	}

	if id.Region == "" {
		if id.Region, err = c.optionalMetadata(ctx, PathRegion); err != nil {
			return Identity{}, err
		}
	}
	if id.Region == "" {
		id.Region = RegionFromAvailabilityZone(id.AvailabilityZone)
	}
	return id, nil
}

// Resolve discovers the instance identity, waiting at most wait for IMDS to
// answer (it may still be coming up early in boot).
//
// Region precedence: a configured region (AWS_DEFAULT_REGION from ecs.config
// or the environment) always wins and IMDS only fills in when it is empty.
// That is what the incumbent agent does and what an operator expects: setting
// the region explicitly is how one registers with a backend in another region
// (or a local control plane), and the setting must not be silently overridden
// by where the host happens to run.
//
// With no metadata service (disabled, connection refused, timeouts) Resolve
// returns Identity{Region: configuredRegion} when a region is configured, and
// an error wrapping ErrNoRegion that names AWS_DEFAULT_REGION otherwise. When
// IMDS answers but reports no region either, the error also wraps ErrNoRegion
// and the partial identity is returned with it.
func (c *Client) Resolve(ctx context.Context, configuredRegion string, wait time.Duration) (Identity, error) {
	configuredRegion = strings.TrimSpace(configuredRegion)
	if c.disabled {
		return c.withoutIMDS(configuredRegion, fmt.Errorf("%w: disabled by %s=true", ErrUnavailable, EnvDisabled))
	}

	id, err := c.fetchIdentityWithRetry(ctx, wait)
	if err != nil {
		if ctx.Err() != nil {
			return Identity{}, fmt.Errorf("ec2 metadata: resolving the instance identity: %w", ctx.Err())
		}
		return c.withoutIMDS(configuredRegion, err)
	}

	imdsRegion := id.Region
	switch {
	case configuredRegion != "":
		id.Region = configuredRegion
		if imdsRegion != "" && imdsRegion != configuredRegion {
			c.log.Info("using the configured region, which differs from the instance's region",
				logging.KeyRegion, configuredRegion, logKeyIMDSRegion, imdsRegion)
		}
	case imdsRegion == "":
		return id, fmt.Errorf("%w: the EC2 instance metadata service at %s reports no region "+
			"(no identity document, placement/region or AWS availability zone); "+
			"set AWS_DEFAULT_REGION in /etc/ecs/ecs.config or the environment", ErrNoRegion, c.endpoint)
	}
	return id, nil
}

// Backoff between Resolve attempts; short because IMDS normally answers at
// once and the whole budget is a few seconds.
const (
	resolveBackoffMin = 100 * time.Millisecond
	resolveBackoffMax = time.Second
)

// fetchIdentityWithRetry retries transient failures until the wait budget
// ends; wait <= 0 means a single attempt. It returns the last real failure
// rather than the budget's deadline so that the caller can explain what went
// wrong.
func (c *Client) fetchIdentityWithRetry(ctx context.Context, wait time.Duration) (Identity, error) {
	bctx, cancel := ctx, context.CancelFunc(func() {})
	if wait > 0 {
		bctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	backoff := resolveBackoffMin
	var lastErr error
	for {
		id, err := c.fetchIdentity(bctx)
		switch {
		case err == nil:
			return id, nil
		case ctx.Err() != nil:
			return Identity{}, ctx.Err()
		case bctx.Err() != nil:
			// The budget ran out during this attempt.
			if lastErr == nil {
				lastErr = fmt.Errorf("%w: no answer within %s: %w", ErrUnavailable, wait, err)
			}
			return Identity{}, lastErr
		}
		lastErr = err
		if wait <= 0 || !retriable(err) {
			return Identity{}, lastErr
		}
		c.log.Debug("EC2 instance metadata service not ready; retrying", logging.KeyEndpoint, c.endpoint, logging.KeyError, err)
		t := time.NewTimer(backoff)
		select {
		case <-bctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return Identity{}, ctx.Err()
			}
			return Identity{}, lastErr
		case <-t.C:
		}
		backoff = min(backoff*2, resolveBackoffMax)
	}
}

// retriable reports whether a failure may go away by itself: the service is
// not (yet) reachable, or it answered with a server-side error or throttling.
func retriable(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == 429
	}
	return false
}

// withoutIMDS is the outcome when the metadata service cannot be used.
func (c *Client) withoutIMDS(configuredRegion string, cause error) (Identity, error) {
	if configuredRegion != "" {
		c.log.Warn("EC2 instance metadata service unavailable; continuing with the configured region and no instance identity document",
			logging.KeyEndpoint, c.endpoint, logging.KeyRegion, configuredRegion, logging.KeyError, cause)
		return Identity{Region: configuredRegion}, nil
	}
	what := "is unreachable at " + c.endpoint
	switch {
	case c.disabled:
		what = "is disabled (" + EnvDisabled + "=true)"
	case !errors.Is(cause, ErrUnavailable):
		what = "at " + c.endpoint + " failed"
	}
	return Identity{}, fmt.Errorf("%w: the EC2 instance metadata service %s; "+
		"set AWS_DEFAULT_REGION in /etc/ecs/ecs.config or the environment (last error: %w)", ErrNoRegion, what, cause)
}
