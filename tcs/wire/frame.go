package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigningService is the SigV4 service name of TCS frames and of the TCS
// handshake: the ECS one, not the model's "ecstcs".
const SigningService = "ecs"

// ErrMalformedFrame is returned (wrapped) for a signed frame that does not
// split into a header block and an envelope.
var ErrMalformedFrame = errors.New("malformed TCS frame")

// Every outbound TCS frame is the header block of a SigV4-signed HTTP
// request, then an empty line, then the envelope:
//
//	Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240102/us-west-2/ecs/aws4_request, SignedHeaders=content-length;host;x-amz-date, Signature=...\r\n
//	Host: ecs-t-1.us-west-2.amazonaws.com\r\n
//	X-Amz-Date: 20240102T030405Z\r\n
//	X-Amz-Security-Token: ...\r\n          (with temporary credentials only)
//	\r\n
//	{"type":"PublishMetricsRequest","message":{...}}
//
// The signed request is GET to the exact URL the session dialled (with its
// http or https scheme and its query), with the envelope as its body, so the
// payload hash is sha256(envelope). Headers are written as http.Header.Write
// writes them: "Key: value\r\n", keys sorted. This is what the incumbent
// agent sends and what the TCS service verifies.
const headerEnd = "\r\n\r\n"

// Signer builds the signed frames of one TCS session.
type Signer struct {
	// URL is the http(s) URL the session dialled, query included.
	URL string
	// Region is the signing region, the agent's.
	Region string
	// Credentials sign every frame; a cache (aws.CredentialsCache) keeps
	// this cheap.
	Credentials aws.CredentialsProvider
}

// EncodeFrame encodes msg in its envelope and signs it as of now.
func (s Signer) EncodeFrame(ctx context.Context, msg any, now time.Time) ([]byte, error) {
	env, err := Encode(msg)
	if err != nil {
		return nil, err
	}
	return s.Frame(ctx, env, now)
}

// Frame signs envelopeJSON as of now and returns the frame to send.
func (s Signer) Frame(ctx context.Context, envelopeJSON []byte, now time.Time) ([]byte, error) {
	if s.Credentials == nil {
		return nil, errors.New("sign TCS frame: no credentials provider")
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign TCS frame: retrieve credentials: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, bytes.NewReader(envelopeJSON))
	if err != nil {
		return nil, fmt.Errorf("sign TCS frame: URL %q: %w", s.URL, err)
	}
	sum := sha256.Sum256(envelopeJSON)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningService, s.Region, now); err != nil {
		return nil, fmt.Errorf("sign TCS frame: %w", err)
	}
	// The signer signed req.Host (without a default port); the frame names it.
	req.Header.Set("Host", req.Host)
	var b bytes.Buffer
	b.Grow(512 + len(envelopeJSON))
	if err := req.Header.Write(&b); err != nil {
		return nil, fmt.Errorf("sign TCS frame: write headers: %w", err)
	}
	b.WriteString("\r\n")
	b.Write(envelopeJSON)
	return b.Bytes(), nil
}

// SplitFrame splits a signed frame into its header block and its envelope.
func SplitFrame(frame []byte) (http.Header, []byte, error) {
	i := bytes.Index(frame, []byte(headerEnd))
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: no empty line after the header block (is it an unsigned envelope?)", ErrMalformedFrame)
	}
	block := frame[:i+len(headerEnd)]
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(block))).ReadMIMEHeader()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: header block: %w", ErrMalformedFrame, err)
	}
	return http.Header(h), frame[i+len(headerEnd):], nil
}

// FrameRequest rebuilds the request a frame was signed as, for a server to
// verify: GET u (the URL of the websocket upgrade as the server received it;
// its path and query are what the agent signed) with the frame's headers, its
// Host and the envelope as the body. It returns the request and the envelope;
// give both to a SigV4 verifier.
func FrameRequest(frame []byte, u *url.URL) (*http.Request, []byte, error) {
	h, env, err := SplitFrame(frame)
	if err != nil {
		return nil, nil, err
	}
	host := h.Get("Host")
	if host == "" {
		return nil, nil, fmt.Errorf("%w: the header block has no Host", ErrMalformedFrame)
	}
	h.Del("Host")
	target := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	req := &http.Request{
		Method:        http.MethodGet,
		URL:           target,
		Host:          host,
		Header:        h,
		ContentLength: int64(len(env)),
		Body:          http.NoBody,
	}
	return req, env, nil
}
