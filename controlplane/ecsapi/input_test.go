package ecsapi

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegisterRefusesBadResourcesAndAttributes(t *testing.T) {
	f := newFixture(t)
	rawCall(t, f.srv.URL, "CreateCluster", `{"clusterName":"c"}`, true)
	long := strings.Repeat("a", 129)
	cases := map[string]struct{ resources, attributes, want string }{
		"negative CPU":        {resources: `[{"name":"CPU","type":"INTEGER","integerValue":-1024}]`, want: "totalResources[0]: resource CPU can not be negative"},
		"negative long":       {resources: `[{"name":"GPU_MEM","type":"LONG","longValue":-1}]`, want: "GPU_MEM can not be negative"},
		"duplicate MEMORY":    {resources: `[{"name":"MEMORY","type":"INTEGER","integerValue":1},{"name":"MEMORY","type":"INTEGER","integerValue":2}]`, want: "totalResources[1]: resource MEMORY is listed more than once"},
		"non-numeric port":    {resources: `[{"name":"PORTS","type":"STRINGSET","stringSetValue":["22","ssh"]}]`, want: `resource PORTS lists "ssh", which is not a port number`},
		"port out of range":   {resources: `[{"name":"PORTS_UDP","type":"STRINGSET","stringSetValue":["70000"]}]`, want: `lists "70000"`},
		"CPU as a string set": {resources: `[{"name":"CPU","type":"STRINGSET","stringSetValue":["1"]}]`, want: "resource CPU must have type INTEGER"},
		"unknown type":        {resources: `[{"name":"X","type":"FLOAT","doubleValue":1}]`, want: `resource X has type "FLOAT"`},
		"blank name":          {resources: `[{"type":"INTEGER","integerValue":1}]`, want: "resource name can not be blank"},
		"long name":           {attributes: `[{"name":"` + long + `"}]`, want: "has 129 characters; at most 128"},
		"long value":          {attributes: `[{"name":"n","value":"` + long + `"}]`, want: "The value of attribute n has 129 characters"},
		"empty value":         {attributes: `[{"name":"n","value":""}]`, want: "The value of attribute n has 0 characters"},
		"bad name":            {attributes: `[{"name":"a b"}]`, want: `Attribute name "a b" is invalid`},
		"bad value":           {attributes: `[{"name":"n","value":"x;rm"}]`, want: "The value of attribute n is invalid"},
		"value edge space":    {attributes: `[{"name":"n","value":" x"}]`, want: "no space at either end"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			body := `{"cluster":"c"`
			if c.resources != "" {
				body += `,"totalResources":` + c.resources
			}
			if c.attributes != "" {
				body += `,"attributes":` + c.attributes
			}
			resp := rawCall(t, f.srv.URL, "RegisterContainerInstance", body+"}", true)
			assert.Equal(t, http.StatusBadRequest, resp.status)
			assert.Equal(t, CodeInvalidParameter, resp.body["__type"])
			assert.Contains(t, resp.body["message"], c.want)
		})
	}
	list, err := f.ecs.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String("c")})
	require.NoError(t, err)
	assert.Empty(t, list.ContainerInstanceArns, "nothing was registered")

	ok := `{"cluster":"c","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":0},` +
		`{"name":"PORTS","type":"STRINGSET","stringSetValue":["0","65535"]},{"name":"GPU","type":"STRINGSET","stringSetValue":["gpu-0"]}],` +
		`"attributes":[{"name":"ecs.outpost-arn","value":"arn:aws:outposts:us-east-1:1:outpost/op-1"},{"name":"a/b\\c.d-e_f"},{"name":"v","value":"a b@c"}]}`
	assert.Equal(t, http.StatusOK, rawCall(t, f.srv.URL, "RegisterContainerInstance", ok, true).status)
}

// A timestamp the store cannot encode used to fail the write with a 500
// and drop the state change; it is now refused naming the field.
func TestStateChangeRefusesTimestampsOutOfRange(t *testing.T) {
	f := newFixture(t)
	connectedInstance(t, f, "c", "i-1")
	register(t, f, appDef("app", 0))
	run, err := f.ecs.RunTask(context.Background(), &ecs.RunTaskInput{Cluster: aws.String("c"), TaskDefinition: aws.String("app")})
	require.NoError(t, err)
	task := aws.ToString(run.Tasks[0].TaskArn)

	for field, value := range map[string]string{
		"pullStartedAt": "1e12", "pullStoppedAt": "-1e12", "executionStoppedAt": "1e300",
	} {
		body := fmt.Sprintf(`{"cluster":"c","task":%q,"status":"RUNNING",%q:%s}`, task, field, value)
		resp := rawCall(t, f.srv.URL, "SubmitTaskStateChange", body, true)
		assert.Equal(t, http.StatusBadRequest, resp.status, field)
		assert.Equal(t, CodeInvalidParameter, resp.body["__type"], field)
		assert.Contains(t, resp.body["message"], field+" must be a time between the years 0 and 9999")
	}
	assert.Equal(t, "PENDING", aws.ToString(describeTask(t, f, "c", task).LastStatus))

	// The edges of the range are kept.
	body := fmt.Sprintf(`{"cluster":"c","task":%q,"status":"RUNNING","pullStartedAt":-62167219200,"pullStoppedAt":253402300799}`, task)
	resp := rawCall(t, f.srv.URL, "SubmitTaskStateChange", body, true)
	require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
	assert.Equal(t, "RUNNING", aws.ToString(describeTask(t, f, "c", task).LastStatus))
	raw := rawCall(t, f.srv.URL, "DescribeTasks", fmt.Sprintf(`{"cluster":"c","tasks":[%q]}`, task), true).raw
	assert.Contains(t, string(raw), `"pullStoppedAt":253402300799`)
	assert.Contains(t, string(raw), `"pullStartedAt":-62167219200`)
}

func TestStateChangeRefusesOverlongContainerFields(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 256)
	for _, field := range []string{"runtimeId", "imageDigest"} {
		body := fmt.Sprintf(`{"cluster":"c","task":"t","containers":[{"containerName":"main",%q:%q}]}`, field, long)
		resp := rawCall(t, f.srv.URL, "SubmitTaskStateChange", body, true)
		assert.Equal(t, CodeInvalidParameter, resp.body["__type"], field)
		assert.Contains(t, resp.body["message"], field+" of container main can have at most 255 characters")
	}
}

// countingBody records whether anything read it.
type countingBody struct {
	io.Reader
	reads *atomic.Int32
}

func (b countingBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	return b.Reader.Read(p)
}

func (countingBody) Close() error { return nil }

// A request that could not have been signed is refused before its body is
// read: an unknown key, a stale date or a malformed header costs nothing.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	f := newFixture(t)
	body := `{"clusterName":"x"}`
	sign := func(key string, at time.Time) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(body))
		req.Header.Set("Content-Type", jsonContentType)
		req.Header.Set("X-Amz-Target", targetPrefix+"CreateCluster")
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: testSecret}
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", testRegion, at))
		return req
	}
	cases := map[string]*http.Request{
		"unknown key": sign("AKIDUNKNOWN", time.Now()),
		"stale date":  sign(testKey, time.Now().Add(-time.Hour)),
		"no auth":     httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(body)),
	}
	malformed := sign(testKey, time.Now())
	malformed.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	cases["malformed"] = malformed
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			var reads atomic.Int32
			req.Body = countingBody{strings.NewReader(body), &reads}
			rec := httptest.NewRecorder()
			f.api.ServeHTTP(rec, req)
			assert.GreaterOrEqual(t, rec.Code, 400)
			assert.Zero(t, reads.Load(), "the body was read")
			assert.Equal(t, "close", rec.Header().Get("Connection"), "net/http must not read the body either")
		})
	}
}

func TestOversizedBodyIsRefusedUnread(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	req.Header.Set("X-Amz-Target", targetPrefix+"CreateCluster")
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, strings.Repeat("0", 64), "ecs", testRegion, time.Now()))
	var reads atomic.Int32
	req.Body = countingBody{strings.NewReader("{}"), &reads}
	req.ContentLength = maxBodyBytes + 1
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "The request body is too large")
	assert.Zero(t, reads.Load())
}

// A sender that announces a body and sends it too slowly is answered
// RequestTimeoutException once the read deadline passes, instead of holding
// the connection's goroutine.
func TestSlowBodyTimesOut(t *testing.T) {
	f := newFixture(t)
	f.api.o.BodyReadTimeout = 200 * time.Millisecond
	body := `{"clusterName":"slow"}`
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", jsonContentType)
	req.Header.Set("X-Amz-Target", targetPrefix+"CreateCluster")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", testRegion, time.Now()))

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// Headers and the first bytes of the body, then nothing.
	var head strings.Builder
	fmt.Fprintf(&head, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.Host, len(body))
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n" + body[:5])
	_, err = conn.Write([]byte(head.String()))
	require.NoError(t, err)

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, resp.Close, "the connection is closed after the answer")
	assert.Contains(t, string(raw), CodeRequestTimeout)
}
