package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/open-ecs/ecs-agent/agent/statechange"
	"github.com/open-ecs/ecs-agent/internal/boundedfile"
	"github.com/open-ecs/ecs-agent/version"
)

// ecsRequestTimeout bounds one ECS API call, so a silent backend cannot hang
// start-up; retries are ours, with backoff.
const ecsRequestTimeout = 30 * time.Second

// ecsAPI is the part of the ECS API the agent calls.
type ecsAPI interface {
	RegisterContainerInstance(ctx context.Context, in *ecs.RegisterContainerInstanceInput, opts ...func(*ecs.Options)) (*ecs.RegisterContainerInstanceOutput, error)
	CreateCluster(ctx context.Context, in *ecs.CreateClusterInput, opts ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	DiscoverPollEndpoint(ctx context.Context, in *ecs.DiscoverPollEndpointInput, opts ...func(*ecs.Options)) (*ecs.DiscoverPollEndpointOutput, error)
	statechange.API
}

var _ ecsAPI = (*ecs.Client)(nil)

// endpointURL turns ECS_BACKEND_HOST into a base URL: a bare host gets
// https://, as the incumbent accepts "ecs.us-west-2.amazonaws.com".
func endpointURL(host string) string {
	if host == "" || strings.Contains(host, "://") {
		return host
	}
	return "https://" + host
}

// userAgent identifies the agent to the backend, in the incumbent's shape:
// "<name> - v<version> (<hash>) (linux; <arch>)".
func userAgent() string {
	return fmt.Sprintf("%s (%s; %s)", version.String(), runtime.GOOS, runtime.GOARCH)
}

// addUserAgent puts the agent's User-Agent in front of the SDK's, after the
// SDK's own user-agent middleware has set it.
func addUserAgent(stack *middleware.Stack) error {
	return stack.Build.Insert(middleware.BuildMiddlewareFunc("OpenECSUserAgent",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				ua := userAgent()
				if sdk := req.Header.Get("User-Agent"); sdk != "" {
					ua += " " + sdk
				}
				req.Header.Set("User-Agent", ua)
			}
			return next.HandleBuild(ctx, in)
		}), "UserAgent", middleware.After)
}

// caBundleEnv names the PEM file of extra trusted CAs. The SDK applies it to
// the ECS API client itself; tlsConfig applies it to the ACS websocket, so
// both connections to a backend with a private CA trust the same roots.
const caBundleEnv = "AWS_CA_BUNDLE"

// tlsConfig is the client TLS setting for ACS: TLS 1.2 or later, the system
// roots plus the CAs in caBundle (a PEM file, may be ""), verification off
// only with the agent's -k flag.
func tlsConfig(insecure bool, caBundle string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // -k is the operator's explicit choice
	if caBundle == "" {
		return c, nil
	}
	pem, err := boundedfile.ReadFile(caBundle, boundedfile.MaxPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caBundleEnv, err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s=%s: no PEM certificate in the file", caBundleEnv, caBundle)
	}
	c.RootCAs = roots
	return c, nil
}

// newAWSConfig loads the SDK default credential chain (environment, shared
// files, then the EC2 role through IMDS at imdsEndpoint, the same endpoint
// the identity came from).
func newAWSConfig(ctx context.Context, region, imdsEndpoint string, insecure bool) (aws.Config, error) {
	// A buildable client keeps AWS_CA_BUNDLE working: the SDK adds the bundle
	// through its transport options.
	hc := awshttp.NewBuildableClient().
		WithTimeout(ecsRequestTimeout).
		WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.MinVersion = tls.VersionTLS12
			tr.TLSClientConfig.InsecureSkipVerify = insecure //nolint:gosec // -k is the operator's explicit choice
		})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithHTTPClient(hc),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{addUserAgent}),
	}
	if imdsEndpoint != "" {
		opts = append(opts, awsconfig.WithEC2IMDSEndpoint(imdsEndpoint))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return awsCfg, nil
}

// newECSClient returns the ECS API client for apiEndpoint ("" = the SDK's
// regional endpoint). The SDK's own retries are off: each call site owns its
// retry policy (registration backs off for an hour, discovery falls back to
// its cache).
func newECSClient(awsCfg aws.Config, apiEndpoint string) *ecs.Client {
	return ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
		if apiEndpoint != "" {
			o.BaseEndpoint = aws.String(endpointURL(apiEndpoint))
		}
		o.Retryer = aws.NopRetryer{}
	})
}

// credentialsCheckTimeout bounds the first credentials lookup; the SDK's
// IMDS client retries within it.
const credentialsCheckTimeout = 30 * time.Second

// errNoCredentials says what to set; the SDK's own error (a chain of
// provider failures) follows it as the cause.
const errNoCredentials = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
	"(under ecs-init, in /etc/ecs/ecs.config), or AWS_PROFILE with a shared credentials file " +
	"(AWS_SHARED_CREDENTIALS_FILE), or on EC2 attach an instance role (IAM instance profile)"

// checkCredentials looks the credentials up once before registering, so
// that an agent without any stops with exit 5 and a message saying what to
// set, rather than failing registration with the SDK's error and exit 1,
// which a supervisor restarts forever. onEC2 is true when the instance
// metadata service answered: there a failure other than "no role attached"
// (404) may be transient, and is returned as a plain error.
func checkCredentials(ctx context.Context, creds aws.CredentialsProvider, onEC2 bool) error {
	if creds == nil {
		return terminal(errors.New(errNoCredentials))
	}
	cctx, cancel := context.WithTimeout(ctx, credentialsCheckTimeout)
	defer cancel()
	_, err := creds.Retrieve(cctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil: // stopped during start-up: not a credentials problem
		return fmt.Errorf("AWS credentials: %w", err)
	}
	var resp *smithyhttp.ResponseError
	noRole := errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
	if onEC2 && !noRole {
		return fmt.Errorf("AWS credentials from the instance role: %w", err)
	}
	return terminal(fmt.Errorf("%s (%w)", errNoCredentials, err))
}
