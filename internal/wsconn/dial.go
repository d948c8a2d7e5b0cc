package wsconn

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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"
)

// Transport settings of the incumbent agent (reference §5.2, which TCS shares).
const (
	dialTimeout     = 30 * time.Second
	readBufferSize  = 4096
	writeBufferSize = 32768
	// maxHandshakeBody bounds how much of a rejected upgrade's body is kept.
	maxHandshakeBody = 4096
)

// EmptyPayloadHash is hex(sha256("")), the payload hash of the upgrade GET.
var EmptyPayloadHash = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// DialFunc opens a websocket to url with the given upgrade request headers.
// A rejected upgrade yields a *HandshakeError.
type DialFunc func(ctx context.Context, url string, header http.Header) (Socket, error)

// HandshakeError is a websocket upgrade the server answered with a non-101
// status. Body is the start of the answer, where ACS and TCS put a one-key
// exception object.
type HandshakeError struct {
	Status int
	Body   []byte
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake rejected with HTTP %d: %q", e.Status, e.Body)
}

// NewDialer returns the production DialFunc. tlsConfig nil means system
// roots with verification; TLS 1.2 is the minimum either way. Each
// connection refuses inbound frames over readLimit bytes with close code
// 1009 before reading their payload.
func NewDialer(tlsConfig *tls.Config, readLimit int64) DialFunc {
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
	return func(ctx context.Context, u string, header http.Header) (Socket, error) {
		c, resp, err := d.DialContext(ctx, u, header)
		if err == nil {
			c.SetReadLimit(readLimit)
			return c, nil
		}
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHandshakeBody))
			_ = resp.Body.Close()
			return nil, &HandshakeError{Status: resp.StatusCode, Body: body}
		}
		return nil, err
	}
}

// WebsocketURL rewrites https to wss and http to ws. Both protocols sign
// the http(s) form and dial this one.
func WebsocketURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	return u
}

// SignUpgrade signs GET u (empty payload) with SigV4 for service in region
// and returns the headers to send with the upgrade: Authorization,
// X-Amz-Date and, with temporary credentials, X-Amz-Security-Token. Host is
// left to the dialer. Callers wrap its errors with their protocol's name.
func SignUpgrade(ctx context.Context, creds aws.CredentialsProvider, service, region, u string, now time.Time) (http.Header, error) {
	if creds == nil {
		return nil, errors.New("no credentials provider")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, c, req, EmptyPayloadHash, service, region, now); err != nil {
		return nil, err
	}
	h := req.Header.Clone()
	h.Del("Host")
	return h, nil
}
