package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"

	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/version"
)

// defaultCluster is the only cluster the agent creates when it is missing,
// as the incumbent does.
const defaultCluster = "default"

// Registration retry policy: exponential backoff with jitter for transient
// errors, within a total budget after which the agent exits 1 and its
// supervisor restarts it (reference §4: 3 s..192 s ×2 for 1 h).
const (
	registerBackoffMin    = 2 * time.Second
	registerBackoffMax    = 3 * time.Minute
	registerBackoffFactor = 2
	registerBackoffJitter = 0.2
	registerBudget        = time.Hour
)

// terminalCodes are ECS error codes that retrying or restarting cannot fix.
var terminalCodes = []string{
	"ClientException", "InvalidParameterException", "ClusterNotFoundException",
	"AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
	"InvalidSignatureException", "IncompleteSignature", "InvalidClientTokenId",
	"MissingAuthenticationToken", "SignatureDoesNotMatch", "AttributeLimitExceededException",
}

// registration is the outcome of RegisterContainerInstance.
type registration struct {
	ContainerInstanceARN string
	AvailabilityZone     string
}

// registerRequest is everything one registration sends.
type registerRequest struct {
	Cluster     string
	RestoredARN string // non-empty: re-register the same container instance
	// ClientToken goes with a first registration (no RestoredARN): the
	// token saved before it (registrationClientToken), so that a repeat
	// after a lost response or a crash before the ARN was saved names the
	// same registration and the backend creates no second instance.
	ClientToken string
	Identity    ec2metadata.Identity
	Resources   HostResources
	Docker      dockerapi.VersionInfo
	Custom      map[string]string // ECS_INSTANCE_ATTRIBUTES
	Caps        []string          // the task engine's capabilities
	Tags        map[string]string // ECS_CONTAINER_INSTANCE_TAGS
}

// retryPolicy is the registration backoff; tests shrink it.
type retryPolicy struct {
	min, max time.Duration
	budget   time.Duration
}

var defaultRegisterPolicy = retryPolicy{min: registerBackoffMin, max: registerBackoffMax, budget: registerBudget}

func (r registerRequest) input() *ecs.RegisterContainerInstanceInput {
	custom := r.Custom
	if r.RestoredARN != "" {
		// The incumbent sends custom attributes on first registration only.
		custom = nil
	}
	in := &ecs.RegisterContainerInstanceInput{
		Cluster:                           aws.String(r.Cluster),
		InstanceIdentityDocument:          aws.String(r.Identity.Document),
		InstanceIdentityDocumentSignature: aws.String(r.Identity.Signature),
		TotalResources:                    r.Resources.registrationResources(),
		Attributes:                        registrationAttributes(r.Docker, r.Caps, custom),
		VersionInfo: &ecstypes.VersionInfo{
			AgentVersion:  aws.String(version.Version),
			AgentHash:     aws.String(version.GitHash),
			DockerVersion: aws.String("DockerVersion: " + r.Docker.ServerVersion),
		},
	}
	if r.RestoredARN != "" {
		in.ContainerInstanceArn = aws.String(r.RestoredARN)
	}
	keys := make([]string, 0, len(r.Tags))
	for k := range r.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(r.Tags[k])})
	}
	return in
}

// errorKind is how registration treats an API error.
type errorKind int

const (
	kindOther     errorKind = iota // return it; the agent exits 1 and is restarted
	kindRetry                      // transient: back off and try again in-process
	kindTerminal                   // exit 5
	kindNoCluster                  // ClusterNotFoundException
)

var sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)

func classify(err error) errorKind {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case code == "ClusterNotFoundException":
			return kindNoCluster
		case slices.Contains(terminalCodes, code):
			return kindTerminal
		case code == "ServerException":
			return kindRetry
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == 429 {
		return kindRetry
	}
	if sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary {
		return kindRetry // throttling, 5xx, connection refused/reset, timeouts
	}
	return kindOther
}

// register registers (or re-registers) the container instance, retrying
// transient errors with backoff within the policy's budget. It creates the
// "default" cluster when that is the configured one and it does not exist.
func register(ctx context.Context, api ecsAPI, req registerRequest, pol retryPolicy, log *slog.Logger) (registration, error) {
	log = log.With(logging.KeyCluster, req.Cluster)
	bo := backoff.New(pol.min, pol.max, registerBackoffFactor, registerBackoffJitter)
	deadline := time.Now().Add(pol.budget)
	createdCluster := false
	var opts []func(*ecs.Options)
	if req.RestoredARN == "" && req.ClientToken != "" {
		opts = append(opts, withClientToken(req.ClientToken))
	}
	for attempt := 1; ; attempt++ {
		in := req.input()
		out, err := api.RegisterContainerInstance(ctx, in, opts...)
		if err == nil {
			return checkRegistration(in, out, req)
		}
		if ctx.Err() != nil {
			return registration{}, fmt.Errorf("register container instance: %w", ctx.Err())
		}
		switch classify(err) {
		case kindNoCluster:
			if req.Cluster != defaultCluster || createdCluster {
				return registration{}, terminal(fmt.Errorf(
					"register container instance: cluster %q does not exist (create it first or set ECS_CLUSTER): %w",
					req.Cluster, err))
			}
			log.Info("the default cluster does not exist; creating it")
			if _, cerr := api.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(defaultCluster)}); cerr != nil {
				if classify(cerr) == kindTerminal {
					return registration{}, terminal(fmt.Errorf("create the default cluster: %w", cerr))
				}
				err = fmt.Errorf("create the default cluster: %w", cerr)
				break // back off like any transient failure
			}
			createdCluster = true
			continue
		case kindTerminal:
			hint := ""
			if req.RestoredARN != "" {
				hint = fmt.Sprintf(" (re-registering the saved container instance %s; if the backend no longer "+
					"knows it, move the state file in ECS_DATADIR away to register as a new instance)", req.RestoredARN)
			}
			return registration{}, terminal(fmt.Errorf("register container instance: %w%s", err, hint))
		case kindOther:
			return registration{}, fmt.Errorf("register container instance: %w", err)
		}
		wait := bo.Next()
		if time.Now().Add(wait).After(deadline) {
			return registration{}, fmt.Errorf("register container instance: still failing after %s: %w", pol.budget, err)
		}
		log.Warn("registration failed; retrying", logging.KeyError, err,
			logging.KeyAttempt, attempt, logging.KeyBackoff, wait)
		if !backoff.Sleep(ctx, wait) {
			return registration{}, fmt.Errorf("register container instance: %w", ctx.Err())
		}
	}
}

// registrationClientToken returns the clientToken of this host's first
// registration: the saved one, or a new one saved before it is returned, so
// that every attempt, in this process or after a restart, sends the same
// token until the ARN it leads to is saved.
func registrationClientToken(s statemanager.Store) (string, error) {
	md := statemanager.Metadata{Store: s}
	token, err := md.Get(statemanager.KeyRegistrationClientToken)
	switch {
	case err == nil && token != "":
		return token, nil
	case err != nil && !errors.Is(err, statemanager.ErrNotFound):
		return "", fmt.Errorf("read the registration client token: %w", err)
	}
	token = uuid.NewString()
	if err := md.Put(statemanager.KeyRegistrationClientToken, token); err != nil {
		return "", fmt.Errorf("save the registration client token: %w", err)
	}
	return token, nil
}

// withClientToken adds clientToken to a RegisterContainerInstance body. ECS
// takes it (the API model has it, and Amazon's agent sends it through its
// own SDK build), but the public SDK's input type lacks the member. The
// body is edited before the build step computes its length and the signer
// its hash.
func withClientToken(token string) func(*ecs.Options) {
	return func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(middleware.BuildMiddlewareFunc("OpenECSClientToken",
				func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
					req, ok := in.Request.(*smithyhttp.Request)
					if !ok {
						return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("clientToken: unexpected request type %T", in.Request)
					}
					body, err := addJSONMember(req.GetStream(), "clientToken", token)
					if err != nil {
						return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("clientToken: %w", err)
					}
					if req, err = req.SetStream(bytes.NewReader(body)); err != nil {
						return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("clientToken: %w", err)
					}
					req.ContentLength = int64(len(body))
					in.Request = req
					return next.HandleBuild(ctx, in)
				}), middleware.Before)
		})
	}
}

// addJSONMember adds name: value to the JSON object read from r.
func addJSONMember(r io.Reader, name, value string) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if r != nil {
		raw, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, err
			}
		}
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	obj[name] = v
	return json.Marshal(obj)
}

// checkRegistration extracts the ARN and AZ, and rejects a backend that
// did not keep the attributes we sent (the incumbent's AttributeError).
func checkRegistration(in *ecs.RegisterContainerInstanceInput, out *ecs.RegisterContainerInstanceOutput, req registerRequest) (registration, error) {
	if out == nil || out.ContainerInstance == nil || aws.ToString(out.ContainerInstance.ContainerInstanceArn) == "" {
		return registration{}, errors.New("register container instance: the response has no containerInstanceArn")
	}
	ci := out.ContainerInstance
	if missing := missingAttributes(in.Attributes, ci.Attributes); len(missing) > 0 {
		return registration{}, terminal(fmt.Errorf(
			"register container instance: the backend did not register the attributes %s; "+
				"check ECS_INSTANCE_ATTRIBUTES for invalid names or values", strings.Join(missing, ", ")))
	}
	az := attributeValue(ci.Attributes, attrAvailabilityZone)
	if az == "" {
		az = req.Identity.AvailabilityZone
	}
	return registration{ContainerInstanceARN: aws.ToString(ci.ContainerInstanceArn), AvailabilityZone: az}, nil
}
