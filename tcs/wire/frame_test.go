package wire

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "us-west-2"
	// testURL is a TCS URL as the session builds it (url.Values: sorted keys).
	testURL = "https://ecs-t-1.us-west-2.amazonaws.com/ws?agentHash=abcd1234&agentVersion=1.0.0&cluster=default" +
		"&containerInstance=arn%3Aaws%3Aecs%3Aus-west-2%3A123456789012%3Acontainer-instance%2Fdefault%2Fabc&dockerVersion=20.10.24"
	// testEnvelope is a PublishInstanceStatusRequest envelope.
	testEnvelope = `{"type":"PublishInstanceStatusRequest","message":{"metadata":{"cluster":"default",` +
		`"containerInstance":"arn:aws:ecs:us-west-2:123456789012:container-instance/default/abc","requestId":"r-1"},"timestamp":1704164645}}`
)

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func testSigner(token string) Signer {
	return Signer{
		URL:         testURL,
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, token),
	}
}

// TestFrameMatchesAnIndependentSigner pins the whole frame byte for byte. The
// signatures were computed by botocore's SigV4Auth (Python, a signer that
// shares no code with ours) for GET testURL with testEnvelope as the body
// and Content-Length, at testTime; a frame TCS accepts is exactly this.
func TestFrameMatchesAnIndependentSigner(t *testing.T) {
	for _, tc := range []struct {
		name, token, want string
	}{
		{"temporary credentials", "SESSIONTOKEN",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/ecs/aws4_request, " +
				"SignedHeaders=content-length;host;x-amz-date;x-amz-security-token, " +
				"Signature=1f6c05e682ff76d5f85f992221de0b2d8fd2623206ce1cfc88ee16afde4414ff\r\n" +
				"Host: ecs-t-1.us-west-2.amazonaws.com\r\n" +
				"X-Amz-Date: 20240102T030405Z\r\n" +
				"X-Amz-Security-Token: SESSIONTOKEN\r\n" +
				"\r\n" + testEnvelope},
		{"long-term credentials", "",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/ecs/aws4_request, " +
				"SignedHeaders=content-length;host;x-amz-date, " +
				"Signature=c822428946b6ca9b070424329396be069eec4e40ce997d6bfecb2ed98409126a\r\n" +
				"Host: ecs-t-1.us-west-2.amazonaws.com\r\n" +
				"X-Amz-Date: 20240102T030405Z\r\n" +
				"\r\n" + testEnvelope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := testSigner(tc.token).Frame(context.Background(), []byte(testEnvelope), testTime)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(frame))
		})
	}
}

func verifier(token string) *sigv4.Verifier {
	return &sigv4.Verifier{
		Service:     SigningService,
		Region:      testRegion,
		Credentials: sigv4.StaticCredentials{testAKID: {SecretAccessKey: testSecret, SessionToken: token}},
		Now:         func() time.Time { return testTime.Add(time.Minute) },
	}
}

// upgradeURL is the URL as a server sees the websocket upgrade request.
func upgradeURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return &url.URL{Path: u.Path, RawQuery: u.RawQuery}
}

// TestFrameVerifies proves the round trip a server does: split the frame,
// rebuild the signed request from the upgrade URL, verify with SigV4.
func TestFrameVerifies(t *testing.T) {
	for _, token := range []string{"", "SESSIONTOKEN"} {
		msg := PublishHealthRequest{
			Metadata:  &HealthMetadata{Cluster: "default", ContainerInstance: "ci", MessageID: "m1", Fin: true},
			Tasks:     []TaskHealth{{TaskARN: "t1", Containers: []ContainerHealth{{ContainerName: "app", HealthStatus: HealthStatusHealthy}}}},
			Timestamp: At(testTime),
		}
		frame, err := testSigner(token).EncodeFrame(context.Background(), msg, testTime)
		require.NoError(t, err)

		req, env, err := FrameRequest(frame, upgradeURL(t, testURL))
		require.NoError(t, err)
		akid, err := verifier(token).Verify(req, env)
		require.NoError(t, err, "token %q", token)
		assert.Equal(t, testAKID, akid)

		got, err := Decode(env)
		require.NoError(t, err)
		assert.Equal(t, &msg, got)
	}
}

func TestTamperedFrameFails(t *testing.T) {
	frame, err := testSigner("").Frame(context.Background(), []byte(testEnvelope), testTime)
	require.NoError(t, err)

	tampered := []byte(strings.Replace(string(frame), `"r-1"`, `"r-2"`, 1))
	req, env, err := FrameRequest(tampered, upgradeURL(t, testURL))
	require.NoError(t, err)
	_, err = verifier("").Verify(req, env)
	require.Error(t, err, "a changed envelope must not verify")

	// The same frame presented on another session's URL does not verify either.
	req, env, err = FrameRequest(frame, upgradeURL(t, strings.Replace(testURL, "cluster=default", "cluster=other", 1)))
	require.NoError(t, err)
	_, err = verifier("").Verify(req, env)
	require.Error(t, err, "the signature covers the session URL")
}

// A default port is not part of what SigV4 signs, so the frame's Host leaves
// it out too; otherwise the server would rebuild a different canonical host.
func TestFrameHostWithoutDefaultPort(t *testing.T) {
	s := testSigner("")
	s.URL = strings.Replace(testURL, "amazonaws.com/", "amazonaws.com:443/", 1)
	frame, err := s.Frame(context.Background(), []byte(testEnvelope), testTime)
	require.NoError(t, err)
	h, _, err := SplitFrame(frame)
	require.NoError(t, err)
	assert.Equal(t, "ecs-t-1.us-west-2.amazonaws.com", h.Get("Host"))
	req, env, err := FrameRequest(frame, upgradeURL(t, s.URL))
	require.NoError(t, err)
	_, err = verifier("").Verify(req, env)
	require.NoError(t, err)

	// A non-default port stays.
	s.URL = "http://127.0.0.1:8443/ws?cluster=default"
	frame, err = s.Frame(context.Background(), []byte(testEnvelope), testTime)
	require.NoError(t, err)
	h, _, err = SplitFrame(frame)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8443", h.Get("Host"))
}

func TestSplitFrame(t *testing.T) {
	frame, err := testSigner("TOKEN").Frame(context.Background(), []byte(testEnvelope), testTime)
	require.NoError(t, err)
	h, env, err := SplitFrame(frame)
	require.NoError(t, err)
	assert.Equal(t, testEnvelope, string(env))
	assert.Equal(t, http.Header{
		"Authorization":        h["Authorization"],
		"Host":                 {"ecs-t-1.us-west-2.amazonaws.com"},
		"X-Amz-Date":           {"20240102T030405Z"},
		"X-Amz-Security-Token": {"TOKEN"},
	}, h)

	_, _, err = SplitFrame([]byte(testEnvelope))
	require.ErrorIs(t, err, ErrMalformedFrame, "an unsigned envelope is not a frame")
	_, _, err = SplitFrame([]byte("no colon here\r\n\r\n{}"))
	require.ErrorIs(t, err, ErrMalformedFrame)
	_, _, err = FrameRequest([]byte("X-Amz-Date: 20240102T030405Z\r\n\r\n{}"), &url.URL{Path: "/ws"})
	require.ErrorIs(t, err, ErrMalformedFrame, "a frame without Host cannot be verified")
}

type failingCreds struct{}

func (failingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, assert.AnError
}

func TestFrameWithoutCredentials(t *testing.T) {
	_, err := Signer{URL: testURL, Region: testRegion}.Frame(context.Background(), []byte(testEnvelope), testTime)
	require.Error(t, err)
	_, err = Signer{URL: testURL, Region: testRegion, Credentials: failingCreds{}}.Frame(context.Background(), []byte(testEnvelope), testTime)
	require.ErrorIs(t, err, assert.AnError)
}
