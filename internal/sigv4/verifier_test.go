package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tokenKey   = "ASIATEMPORARY"
	tokenValue = "session-token-value"
	region     = "us-east-1"
)

// result is what the test server reports back about one verification.
type result struct {
	key string
	err error
}

// newServer starts a server whose handler verifies every request and sends
// the outcome on a channel, so tests see what arrived on the wire.
func newServer(t *testing.T, v *Verifier) (*httptest.Server, <-chan result) {
	t.Helper()
	results := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			results <- result{err: err}
			return
		}
		key, err := v.Verify(r, body)
		results <- result{key, err}
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

func testVerifier() *Verifier {
	return &Verifier{
		Service: "ecs",
		Region:  region,
		Credentials: StaticCredentials{
			testKey:  {SecretAccessKey: testSecret},
			tokenKey: {SecretAccessKey: testSecret, SessionToken: tokenValue},
		},
	}
}

type signOpts struct {
	key, secret, token string
	service, region    string
	at                 time.Time
}

func defaultSign() signOpts {
	return signOpts{key: testKey, secret: testSecret, service: "ecs", region: region, at: time.Now()}
}

func sign(t *testing.T, req *http.Request, body []byte, o signOpts) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: o.key, SecretAccessKey: o.secret, SessionToken: o.token}
	err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), o.service, o.region, o.at)
	require.NoError(t, err)
}

// do signs and sends a request and returns the server's verdict.
func do(t *testing.T, srv *httptest.Server, results <-chan result, method, pathAndQuery string, body []byte, o signOpts, mutate func(*http.Request)) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+pathAndQuery, bytes.NewReader(body))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	}
	if o.key != "" {
		sign(t, req, body, o)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return <-results
}

func requireCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	require.True(t, errors.As(err, &e), "want *sigv4.Error, got %v", err)
	assert.Equal(t, code, e.Code)
	return e
}

func TestVerifyValidPOST(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	res := do(t, srv, results, http.MethodPost, "/", []byte(`{"maxResults":10}`), defaultSign(), nil)
	require.NoError(t, res.err)
	assert.Equal(t, testKey, res.key)
}

func TestVerifyWebsocketStyleGET(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	q := "/ws?agentHash=abc&agentVersion=1.0.0&clusterArn=default&containerInstanceArn=" +
		"arn%3Aaws%3Aecs%3Aus-east-1%3A000000000000%3Acontainer-instance%2Fdefault%2Fabc" +
		"&dockerVersion=DockerVersion%3A%2020.10.5&protocolVersion=2&sendCredentials=true&seqNum=1"
	res := do(t, srv, results, http.MethodGet, q, nil, defaultSign(), nil)
	require.NoError(t, res.err)
}

func TestVerifyQueryAndPathEdgeCases(t *testing.T) {
	cases := []string{
		"/?b=2&a=1&a=0",
		"/?key-only&empty=",
		"/?space=a%20b&tilde=~x&star=*&slash=a/b&unicode=%C3%A9t%C3%A9",
		"/path%20with%20space/x",
		"/a%2Fb/c",
		"/dup//slashes/",
		"/?plus=a%2Bb",
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			srv, results := newServer(t, testVerifier())
			res := do(t, srv, results, http.MethodGet, c, nil, defaultSign(), nil)
			require.NoError(t, res.err)
		})
	}
}

// Go's url.Values.Encode writes a space as '+'. A client that signs a copy
// of the request (as websocket dialers do) sends '+' while the SDK signs %20.
func TestVerifyPlusInQueryMeansSpace(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	target := srv.URL + "/ws?dockerVersion=DockerVersion%3A+20.10.5&seqNum=1"
	signed, err := http.NewRequest(http.MethodGet, target, nil)
	require.NoError(t, err)
	sign(t, signed, nil, defaultSign())

	req, err := http.NewRequest(http.MethodGet, target, nil)
	require.NoError(t, err)
	req.Header = signed.Header.Clone()
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, (<-results).err)
}

func TestVerifyHeaderValueWhitespace(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	res := do(t, srv, results, http.MethodPost, "/", []byte(`{}`), defaultSign(), nil)
	require.NoError(t, res.err)

	// Sign with a messy header value; the server sees it as sent and must trim it the same way.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("X-Custom", "  a   b  c ")
	sign(t, req, []byte(`{}`), defaultSign())
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, (<-results).err)
}

func TestVerifySessionToken(t *testing.T) {
	srv, results := newServer(t, testVerifier())
	o := defaultSign()
	o.key, o.token = tokenKey, tokenValue
	require.NoError(t, do(t, srv, results, http.MethodPost, "/", []byte(`{}`), o, nil).err)

	o.token = ""
	requireCode(t, do(t, srv, results, http.MethodPost, "/", []byte(`{}`), o, nil).err, CodeUnrecognizedClient)

	o.token = "other"
	requireCode(t, do(t, srv, results, http.MethodPost, "/", []byte(`{}`), o, nil).err, CodeUnrecognizedClient)
}

func TestVerifyFailures(t *testing.T) {
	body := []byte(`{"clusterName":"x"}`)
	cases := []struct {
		name    string
		opts    func(*signOpts)
		mutate  func(*http.Request)
		code    string
		message string
	}{
		{name: "missing", opts: func(o *signOpts) { o.key = "" }, code: CodeMissingAuthenticationToken, message: msgMissingToken},
		{name: "wrong secret", opts: func(o *signOpts) { o.secret = "nope" }, code: CodeInvalidSignature, message: msgBadSignature},
		{name: "unknown key", opts: func(o *signOpts) { o.key = "AKIDUNKNOWN" }, code: CodeUnrecognizedClient, message: msgUnrecognized},
		{name: "expired", opts: func(o *signOpts) { o.at = time.Now().Add(-20 * time.Minute) }, code: CodeInvalidSignature, message: "Signature expired: "},
		{name: "future", opts: func(o *signOpts) { o.at = time.Now().Add(20 * time.Minute) }, code: CodeInvalidSignature, message: "Signature not yet current: "},
		{name: "wrong region", opts: func(o *signOpts) { o.region = "eu-west-1" }, code: CodeInvalidSignature, message: "Credential should be scoped to a valid region."},
		{name: "wrong service", opts: func(o *signOpts) { o.service = "s3" }, code: CodeInvalidSignature, message: "Credential should be scoped to correct service: 'ecs'."},
		{name: "tampered target", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
		}, code: CodeInvalidSignature, message: msgBadSignature},
		{name: "tampered body", mutate: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"clusterName":"y"}`))
		}, code: CodeInvalidSignature, message: msgBadSignature},
		{name: "content sha added after signing", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		}, code: CodeIncompleteSignature, message: "'x-amz-content-sha256' header is not signed"},
		{name: "malformed", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ecs")
		}, code: CodeIncompleteSignature, message: "requires 'SignedHeaders' parameter"},
		{name: "wrong algorithm", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS3 whatever")
		}, code: CodeIncompleteSignature, message: "Unsupported AWS 'algorithm'"},
		{name: "host not signed", mutate: signedHeaders("content-length;content-type;x-amz-date;x-amz-target"),
			code: CodeIncompleteSignature, message: "'Host'"},
		{name: "no date", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: CodeIncompleteSignature, message: "X-Amz-Date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, results := newServer(t, testVerifier())
			o := defaultSign()
			if c.opts != nil {
				c.opts(&o)
			}
			res := do(t, srv, results, http.MethodPost, "/", body, o, c.mutate)
			e := requireCode(t, res.err, c.code)
			assert.Contains(t, e.Message, c.message)
			assert.NotContains(t, e.Error(), testSecret)
		})
	}
}

func TestErrorStatus(t *testing.T) {
	assert.Equal(t, http.StatusForbidden, newError(CodeMissingAuthenticationToken, "").Status)
	assert.Equal(t, http.StatusBadRequest, newError(CodeInvalidSignature, "").Status)
}

func TestCanonicalQuery(t *testing.T) {
	assert.Equal(t, "", canonicalQuery(""))
	assert.Equal(t, "a=0&a=1&b=2", canonicalQuery("b=2&a=1&a=0"))
	assert.Equal(t, "k=&v=a%20b", canonicalQuery("v=a+b&k"))
	assert.Equal(t, "s=a%2Fb%2A~", canonicalQuery("s=a/b*~"))
}
