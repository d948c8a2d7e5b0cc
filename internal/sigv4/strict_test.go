package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendSigned signs a POST of body, lets mutate change the signed request
// (as a man in the middle or a lax client would) and returns the verdict.
func sendSigned(t *testing.T, body []byte, mutate func(*http.Request)) error {
	t.Helper()
	srv, results := newServer(t, testVerifier())
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	sign(t, req, body, defaultSign())
	if mutate != nil {
		mutate(req)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return (<-results).err
}

// signedHeaders rewrites the SignedHeaders list of the Authorization header.
func signedHeaders(list string) func(*http.Request) {
	return func(r *http.Request) {
		authz := r.Header.Get("Authorization")
		start := strings.Index(authz, "SignedHeaders=") + len("SignedHeaders=")
		end := start + strings.Index(authz[start:], ",")
		r.Header.Set("Authorization", authz[:start]+list+authz[end:])
	}
}

// A request signed over host alone must not be usable with headers that
// change its meaning added afterwards.
func TestVerifyRefusesUnsignedProtocolHeaders(t *testing.T) {
	cases := map[string]struct {
		header, value string
		signed        string // the SignedHeaders list the client claims
	}{
		"x-amz-target not signed":    {"X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster", "content-type;host;x-amz-date"},
		"content-type not signed":    {"Content-Type", "application/x-amz-json-1.1", "host;x-amz-date;x-amz-target"},
		"another x-amz-* not signed": {"X-Amz-Foo", "bar", "content-type;host;x-amz-date;x-amz-target"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := sendSigned(t, []byte(`{}`), func(r *http.Request) {
				r.Header.Set(c.header, c.value)
				signedHeaders(c.signed)(r)
			})
			e := requireCode(t, err, CodeIncompleteSignature)
			assert.Contains(t, e.Message, strings.ToLower(c.header))
		})
	}
}

// Trace headers are not x-amz-* headers: clients leave them unsigned.
func TestVerifyAcceptsUnsignedTraceAndUserAgent(t *testing.T) {
	err := sendSigned(t, []byte(`{}`), func(r *http.Request) {
		r.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
		r.Header.Set("User-Agent", "aws-cli/1.45")
	})
	require.NoError(t, err)
}

func TestVerifyRefusesMalformedSignedHeaders(t *testing.T) {
	many := make([]string, 0, maxSignedHeaders+1)
	for i := range maxSignedHeaders + 1 {
		many = append(many, "x-h"+strings.Repeat("a", i))
	}
	cases := map[string]struct {
		list    string
		message string
	}{
		"duplicate":  {"content-type;host;host;x-amz-date;x-amz-target", "more than once"},
		"unsorted":   {"host;content-type;x-amz-date;x-amz-target", "sorted"},
		"upper case": {"Content-Type;host;x-amz-date;x-amz-target", "lower-case"},
		"empty name": {"content-type;;host;x-amz-date;x-amz-target", "empty"},
		"absent":     {"content-type;host;x-amz-date;x-amz-target;x-not-sent", "x-not-sent"},
		"too many":   {strings.Join(many, ";"), "at most"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := requireCode(t, sendSigned(t, []byte(`{}`), signedHeaders(c.list)), CodeIncompleteSignature)
			assert.Contains(t, e.Message, c.message)
		})
	}
}

func TestVerifyRefusesOversizedAuthorization(t *testing.T) {
	err := sendSigned(t, []byte(`{}`), func(r *http.Request) {
		r.Header.Set("Authorization", r.Header.Get("Authorization")+", Padding="+strings.Repeat("a", maxAuthorizationBytes))
	})
	e := requireCode(t, err, CodeIncompleteSignature)
	assert.Contains(t, e.Message, "too long")
}

// A body of the same length swapped in transit must not pass: the payload
// hash is always verified, so UNSIGNED-PAYLOAD is refused.
func TestVerifyRefusesUnsignedPayload(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"cluster":"bbbb"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, UnsignedPayload, "ecs", region, time.Now()))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	e := requireCode(t, (<-results).err, CodeInvalidSignature)
	assert.Contains(t, e.Message, UnsignedPayload)
}

// A signed X-Amz-Content-Sha256 (S3-style clients send it) must be the
// hash of the body that arrived.
func TestVerifyDeclaredContentSHA(t *testing.T) {
	body := []byte(`{"a":1}`)
	sum := sha256.Sum256(body)
	for _, c := range []struct {
		declared string
		ok       bool
	}{{hex.EncodeToString(sum[:]), true}, {strings.Repeat("0", 64), false}} {
		srv, results := newServer(t, testVerifier())
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set("X-Amz-Content-Sha256", c.declared)
		creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, c.declared, "ecs", region, time.Now()))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		err = (<-results).err
		if c.ok {
			require.NoError(t, err)
			continue
		}
		e := requireCode(t, err, CodeInvalidSignature)
		assert.Equal(t, msgBadPayloadSHA, e.Message)
	}
}

// Preflight decides on the headers alone; the body is hashed only by
// Check.Verify, after the caller read it.
func TestPreflightThenVerify(t *testing.T) {
	body := []byte(`{"cluster":"default"}`)
	newReq := func() *http.Request {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:51677/", strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
		sign(t, req, body, defaultSign())
		req.Body = failingBody{t}
		return req
	}
	v := testVerifier()

	c, err := v.Preflight(newReq())
	require.NoError(t, err)
	assert.Equal(t, testKey, c.AccessKeyID)
	require.NoError(t, c.Verify(body))

	c, err = v.Preflight(newReq())
	require.NoError(t, err)
	requireCode(t, c.Verify([]byte(`{"cluster":"other!!"}`)), CodeInvalidSignature)

	unknown := newReq()
	unknown.Header.Set("Authorization", strings.Replace(unknown.Header.Get("Authorization"), testKey, "AKIDUNKNOWN", 1))
	_, err = v.Preflight(unknown)
	requireCode(t, err, CodeUnrecognizedClient)
}

// failingBody fails the test when anything reads it.
type failingBody struct{ t *testing.T }

func (b failingBody) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, io.EOF
}

func (failingBody) Close() error { return nil }

// The websocket upgrade of Amazon's agent: a GET signed with the SDK v2
// signer over host, x-amz-date and x-amz-security-token, with the empty
// payload hash and no X-Amz-Content-Sha256 header.
func TestVerifyAgentUpgradeWithSessionToken(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	o := defaultSign()
	o.key, o.token = tokenKey, tokenValue
	res := do(t, srv, results, http.MethodGet, "/ws?clusterArn=default&seqNum=1", nil, o, func(r *http.Request) {
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		r.Header.Set("Sec-WebSocket-Version", "13")
	})
	require.NoError(t, res.err)
	assert.Equal(t, tokenKey, res.key)
}
