package tcs

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// maxInbound bounds one inbound frame: TCS sends heartbeats and acks.
const maxInbound = 1 << 20

// connectParams are the query parameters of the TCS URL.
type connectParams struct {
	cluster, containerInstanceARN   string
	agentHash, agentVersion, docker string
}

// tcsURL builds <telemetryEndpoint>/ws?<query> (reference §6): url.Values
// sorts the keys; dockerVersion is the raw version, with no prefix (unlike
// ACS). The scheme stays http(s): every frame is signed with this URL, and
// wsconn.WebsocketURL rewrites it only for dialing.
func tcsURL(endpoint string, p connectParams) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("parse TCS endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("TCS endpoint %q: the scheme must be https or http", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	q := url.Values{}
	q.Set("agentHash", p.agentHash)
	q.Set("agentVersion", p.agentVersion)
	q.Set("cluster", p.cluster)
	q.Set("containerInstance", p.containerInstanceARN)
	q.Set("dockerVersion", p.docker)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// signedHeader signs GET u (empty body) for the upgrade: Authorization,
// X-Amz-Date and, with temporary credentials, X-Amz-Security-Token. Host is
// left to the dialer.
func signedHeader(ctx context.Context, creds aws.CredentialsProvider, region, u string, now time.Time) (http.Header, error) {
	h, err := wsconn.SignUpgrade(ctx, creds, wire.SigningService, region, u, now)
	if err != nil {
		return nil, fmt.Errorf("sign TCS handshake: %w", err)
	}
	return h, nil
}
