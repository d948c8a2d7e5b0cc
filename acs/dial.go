package acs

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
)

// signingService is the SigV4 service name ACS expects: the ECS one, not "ecsacs".
const signingService = "ecs"

// MaxFrameBytes is the largest websocket frame (message) the agent reads from
// ACS. A bigger one closes the connection with code 1009 (message too big)
// before its payload is read, so a broken or hostile server cannot make the
// agent buffer it: without a limit one 64 MiB frame took the agent from 21 MB
// to 243 MB of RSS.
//
// The largest legitimate frame is a PayloadMessage: at most 10 tasks, each a
// task definition of at most 64 KiB (ECS's limit), which can double when its
// dockerConfig strings are JSON-escaped inside the frame, plus overrides (8
// KiB), a task role and an execution role credential (a few KiB each, session
// tokens included) and its attachments: about 150 KiB a task, 1.5 MiB a
// payload. 4 MiB leaves more than twice that, and reading a frame of that size
// costs the agent a few MiB of memory.
const MaxFrameBytes = 4 << 20

// connectParams are the query parameters of the ACS URL.
type connectParams struct {
	cluster, containerInstanceARN   string
	agentHash, agentVersion, docker string
	sendCredentials                 bool
}

// acsURL builds <endpoint>/ws?<query> (reference §5.2). url.Values encodes the
// keys in alphabetical order, as the incumbent does. The scheme stays
// http(s): it is signed that way and rewritten by wsconn.WebsocketURL before dialing.
func acsURL(endpoint string, p connectParams) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("parse ACS endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("ACS endpoint %q: scheme must be https or http", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	q := url.Values{}
	q.Set("agentHash", p.agentHash)
	q.Set("agentVersion", p.agentVersion)
	q.Set("clusterArn", p.cluster)
	q.Set("containerInstanceArn", p.containerInstanceARN)
	q.Set("dockerVersion", "DockerVersion: "+p.docker)
	q.Set("protocolVersion", "2")
	q.Set("sendCredentials", fmt.Sprint(p.sendCredentials))
	q.Set("seqNum", "1")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// signedHeader signs GET u with SigV4 (service ecs, empty payload) and returns
// the headers to send with the upgrade: Authorization, X-Amz-Date and, with
// temporary credentials, X-Amz-Security-Token. Host is left to the dialer.
func signedHeader(ctx context.Context, creds aws.CredentialsProvider, region, u string, now time.Time) (http.Header, error) {
	h, err := wsconn.SignUpgrade(ctx, creds, signingService, region, u, now)
	if err != nil {
		return nil, fmt.Errorf("sign ACS request: %w", err)
	}
	return h, nil
}
