package acs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"
)

// Transport settings of the incumbent agent (reference §5.2).
const (
	dialTimeout     = 30 * time.Second
	readBufferSize  = 4096
	writeBufferSize = 32768
	// signingService is the SigV4 service name ACS expects: the ECS one, not "ecsacs".
	signingService = "ecs"
	// maxHandshakeBody bounds how much of a rejected upgrade's body is kept.
	maxHandshakeBody = 4096
)

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

// emptyPayloadHash is hex(sha256("")), the payload hash of a GET.
var emptyPayloadHash = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// wsConn is the part of a websocket connection the session uses. A
// *websocket.Conn satisfies it; tests use an in-memory pair. As with gorilla,
// one goroutine may read and one may write at a time, while WriteControl and
// Close may be called concurrently with both.
type wsConn interface {
	ReadMessage() (messageType int, data []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// dialFunc opens a websocket to url with the given upgrade request headers. A
// rejected upgrade yields a *handshakeError.
type dialFunc func(ctx context.Context, url string, header http.Header) (wsConn, error)

// handshakeError is a websocket upgrade the server answered with a non-101 status.
type handshakeError struct {
	status int
	body   []byte
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("websocket handshake rejected with HTTP %d: %q", e.status, e.body)
}

// gorillaDialer returns the production dialFunc.
func gorillaDialer(tlsConfig *tls.Config) dialFunc {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
		if cfg.MinVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS12
		}
	}
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		NetDialContext:   (&net.Dialer{Timeout: dialTimeout}).DialContext,
		HandshakeTimeout: dialTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		TLSClientConfig:  cfg,
	}
	return func(ctx context.Context, u string, header http.Header) (wsConn, error) {
		c, resp, err := d.DialContext(ctx, u, header)
		if err == nil {
			c.SetReadLimit(MaxFrameBytes)
			return c, nil
		}
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHandshakeBody))
			_ = resp.Body.Close()
			return nil, &handshakeError{status: resp.StatusCode, body: body}
		}
		return nil, err
	}
}

// connectParams are the query parameters of the ACS URL.
type connectParams struct {
	cluster, containerInstanceARN   string
	agentHash, agentVersion, docker string
	sendCredentials                 bool
}

// acsURL builds <endpoint>/ws?<query> (reference §5.2). url.Values encodes the
// keys in alphabetical order, as the incumbent does. The scheme stays
// http(s): it is signed that way and rewritten by wsScheme before dialing.
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

// wsScheme rewrites https to wss and http to ws.
func wsScheme(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	return u
}

// signedHeader signs GET u with SigV4 (service ecs, empty payload) and returns
// the headers to send with the upgrade: Authorization, X-Amz-Date and, with
// temporary credentials, X-Amz-Security-Token. Host is left to the dialer.
func signedHeader(ctx context.Context, creds aws.CredentialsProvider, region, u string, now time.Time) (http.Header, error) {
	if creds == nil {
		return nil, errors.New("sign ACS request: no credentials provider")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign ACS request: retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("sign ACS request: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, c, req, emptyPayloadHash, signingService, region, now); err != nil {
		return nil, fmt.Errorf("sign ACS request: %w", err)
	}
	h := req.Header.Clone()
	h.Del("Host")
	return h, nil
}
