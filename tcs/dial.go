package tcs

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

	"github.com/open-ecs/ecs-agent/tcs/wire"
)

// Transport settings, as for ACS (reference §5.2, which TCS shares).
const (
	dialTimeout     = 30 * time.Second
	readBufferSize  = 4096
	writeBufferSize = 32768
	// maxInbound bounds one inbound frame: TCS sends heartbeats and acks.
	maxInbound = 1 << 20
	// maxHandshakeBody bounds how much of a rejected upgrade's body is kept.
	maxHandshakeBody = 4096
)

// emptyPayloadHash is hex(sha256("")), the payload hash of the upgrade GET.
var emptyPayloadHash = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// wsConn is the part of a websocket connection the session uses. A
// *websocket.Conn satisfies it; tests use an in-memory pair. One goroutine
// may read and one may write at a time; WriteControl and Close may be called
// concurrently with both.
type wsConn interface {
	ReadMessage() (messageType int, data []byte, err error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// dialFunc opens a websocket to url with the given upgrade headers. A
// rejected upgrade yields a *handshakeError.
type dialFunc func(ctx context.Context, url string, header http.Header) (wsConn, error)

// handshakeError is an upgrade the server answered with a non-101 status.
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
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
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
			c.SetReadLimit(maxInbound)
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

// connectParams are the query parameters of the TCS URL.
type connectParams struct {
	cluster, containerInstanceARN   string
	agentHash, agentVersion, docker string
}

// tcsURL builds <telemetryEndpoint>/ws?<query> (reference §6): url.Values
// sorts the keys; dockerVersion is the raw version, with no prefix (unlike
// ACS). The scheme stays http(s): every frame is signed with this URL, and
// wsScheme rewrites it only for dialing.
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

// signedHeader signs GET u (empty body) for the upgrade: Authorization,
// X-Amz-Date and, with temporary credentials, X-Amz-Security-Token. Host is
// left to the dialer.
func signedHeader(ctx context.Context, creds aws.CredentialsProvider, region, u string, now time.Time) (http.Header, error) {
	if creds == nil {
		return nil, errors.New("sign TCS handshake: no credentials provider")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign TCS handshake: retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("sign TCS handshake: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, c, req, emptyPayloadHash, wire.SigningService, region, now); err != nil {
		return nil, fmt.Errorf("sign TCS handshake: %w", err)
	}
	h := req.Header.Clone()
	h.Del("Host")
	return h, nil
}
