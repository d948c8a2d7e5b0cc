package roles

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultSessionDuration is the lifetime asked of STS for task role
// credentials; STS accepts 15 minutes to the role's maximum (1 hour unless
// the role says more).
const DefaultSessionDuration = time.Hour

// stsTimeout bounds one AssumeRole call.
const stsTimeout = 30 * time.Second

// assumeRoler is the STS call the source makes.
type assumeRoler interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// STS issues credentials with STS AssumeRole, signed with the control
// plane's own AWS credentials (the SDK's default chain: environment,
// shared files, instance role).
type STS struct {
	api      assumeRoler
	endpoint string
	duration time.Duration
}

// NewSTS returns an STS source for endpoint (an http or https URL; "" is
// the SDK's regional STS endpoint) in region. duration is the lifetime asked
// for each session.
func NewSTS(ctx context.Context, endpoint, region string, duration time.Duration) (*STS, error) {
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("STS endpoint %q: want http(s)://host[:port]", endpoint)
		}
	}
	if duration < time.Second {
		return nil, fmt.Errorf("role session duration %s: must be at least 1s (STS itself wants at least 15m)", duration)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for STS: %w", err)
	}
	api := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &STS{api: api, endpoint: endpoint, duration: duration}, nil
}

func (s *STS) String() string {
	if s.endpoint == "" {
		return "STS"
	}
	return "STS at " + s.endpoint
}

// Issue assumes roleARN with the task's session name.
func (s *STS) Issue(ctx context.Context, roleARN, sessionName string) (Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	out, err := s.api.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(roleARN),
		RoleSessionName: aws.String(sessionName),
		DurationSeconds: aws.Int32(int32(s.duration / time.Second)),
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("STS AssumeRole %s: %w", roleARN, err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretAccessKey) == "" || c.Expiration == nil {
		return Credentials{}, errors.New("STS AssumeRole " + roleARN + ": the answer has no complete credentials")
	}
	return Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), Expiration: c.Expiration.UTC()}, nil
}
