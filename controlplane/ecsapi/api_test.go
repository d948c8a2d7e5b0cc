package ecsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

const (
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testKey     = "AKIDTEST"
	testSecret  = "test-secret"
	// Agent keys: only the agent operations, on their own instances.
	testAgentKey  = "AKIDAGENT1"
	testAgentKey2 = "AKIDAGENT2"
)

// Authentication errors reach the client with their own code and status.
var (
	_ wireError = (*Error)(nil)
	_ wireError = (*sigv4.Error)(nil)
)

type fixture struct {
	api          *API
	srv          *httptest.Server
	ecs          *ecs.Client
	mu           sync.Mutex
	deregistered []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	f := &fixture{}
	auth := authz.NewAuthenticator("ecs", testRegion, testAccount, authz.Keyring{
		testKey:       {SecretAccessKey: testSecret, Name: "admin"},
		testAgentKey:  {SecretAccessKey: testSecret, Role: authz.RoleAgent, Name: "agent1"},
		testAgentKey2: {SecretAccessKey: testSecret, Role: authz.RoleAgent, Name: "agent2"},
	})
	f.api = New(Options{
		Store:     noScans{st},
		Region:    testRegion,
		AccountID: testAccount,
		Authenticate: func(r *http.Request) (func([]byte) (authz.Principal, error), error) {
			p, err := auth.Begin(r)
			if err != nil {
				return nil, err
			}
			return p.Finish, nil
		},
		OnDeregister: func(arn string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.deregistered = append(f.deregistered, arn)
		},
	})
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	f.ecs = newClient(f.srv.URL, testSecret)
	return f
}

func newClient(url, secret string) *ecs.Client {
	return newClientFor(url, testKey, secret)
}

// newClientFor is a client signing with key (an admin or agent key of the fixture).
func newClientFor(url, key, secret string) *ecs.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(url) })
}

func requireAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "want an API error, got %v", err)
	assert.Equal(t, code, ae.ErrorCode(), ae.ErrorMessage())
}

func TestClusterLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// Nothing exists yet: the default cluster is reported missing.
	d, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	require.NoError(t, err)
	require.Len(t, d.Failures, 1)
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:cluster/default", aws.ToString(d.Failures[0].Arn))
	assert.Equal(t, "MISSING", aws.ToString(d.Failures[0].Reason))

	c, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:cluster/prod", aws.ToString(c.Cluster.ClusterArn))
	assert.Equal(t, "ACTIVE", aws.ToString(c.Cluster.Status))
	require.Len(t, c.Cluster.Settings, 1)
	assert.Equal(t, "disabled", aws.ToString(c.Cluster.Settings[0].Value))

	again, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	require.NoError(t, err, "CreateCluster is idempotent")
	assert.Equal(t, aws.ToString(c.Cluster.ClusterArn), aws.ToString(again.Cluster.ClusterArn))

	d, err = f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"prod", "arn:aws:ecs:us-east-1:123456789012:cluster/prod", "nope"},
		Include:  []types.ClusterField{types.ClusterFieldTags},
	})
	require.NoError(t, err)
	require.Len(t, d.Clusters, 2)
	assert.Equal(t, "team", aws.ToString(d.Clusters[0].Tags[0].Key))
	assert.Equal(t, int32(0), d.Clusters[0].RegisteredContainerInstancesCount)
	require.Len(t, d.Failures, 1)

	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("bad/name")})
	requireAPIError(t, err, CodeInvalidParameter)

	del, err := f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	require.NoError(t, err)
	assert.Equal(t, "INACTIVE", aws.ToString(del.Cluster.Status))

	d, err = f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}})
	require.NoError(t, err)
	require.Len(t, d.Clusters, 1)
	assert.Equal(t, "INACTIVE", aws.ToString(d.Clusters[0].Status))

	_, err = f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	requireAPIError(t, err, CodeClusterNotFound)
	var typed *types.ClusterNotFoundException
	assert.True(t, errors.As(err, &typed), "the SDK decodes the modelled error type")
}

func TestListClustersPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []string{"e", "c", "a", "d", "b"} {
		_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(n)})
		require.NoError(t, err)
	}
	_, err := f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("d")})
	require.NoError(t, err)

	var got []string
	p := ecs.NewListClustersPaginator(f.ecs, &ecs.ListClustersInput{MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		got = append(got, out.ClusterArns...)
		pages++
	}
	assert.Equal(t, 2, pages)
	prefix := "arn:aws:ecs:us-east-1:123456789012:cluster/"
	assert.Equal(t, []string{prefix + "a", prefix + "b", prefix + "c", prefix + "e"}, got)

	_, err = f.ecs.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(101)})
	requireAPIError(t, err, CodeInvalidParameter)
	_, err = f.ecs.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("!!!")})
	requireAPIError(t, err, CodeInvalidParameter)
}

const identityDoc = `{"instanceId":"i-0123456789abcdef0","availabilityZone":"us-east-1a","instanceType":"m5.large","imageId":"ami-1","region":"us-east-1"}`

func sdkRegisterInput(cluster string) *ecs.RegisterContainerInstanceInput {
	return &ecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String(cluster),
		InstanceIdentityDocument: aws.String(identityDoc),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 3900},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "51678"}},
		},
		VersionInfo: &types.VersionInfo{AgentVersion: aws.String("0.1.0"), AgentHash: aws.String("abc"), DockerVersion: aws.String("20.10.5")},
		Attributes: []types.Attribute{
			{Name: aws.String("ecs.capability.container-ordering")},
			{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
			{Name: aws.String("custom"), Value: aws.String("1")},
		},
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}
}

func attr(attrs []types.Attribute, name string) (string, bool) {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value), true
		}
	}
	return "", false
}

func TestContainerInstanceLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	_, err := f.ecs.RegisterContainerInstance(ctx, sdkRegisterInput(""))
	requireAPIError(t, err, CodeClusterNotFound)

	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{})
	require.NoError(t, err)
	reg, err := f.ecs.RegisterContainerInstance(ctx, sdkRegisterInput(""))
	require.NoError(t, err)
	ci := reg.ContainerInstance
	arn := aws.ToString(ci.ContainerInstanceArn)
	assert.Regexp(t, `^arn:aws:ecs:us-east-1:123456789012:container-instance/default/[0-9a-f]{32}$`, arn)
	assert.Equal(t, "i-0123456789abcdef0", aws.ToString(ci.Ec2InstanceId))
	assert.Equal(t, "ACTIVE", aws.ToString(ci.Status))
	assert.Equal(t, int64(1), ci.Version)
	az, _ := attr(ci.Attributes, "ecs.availability-zone")
	assert.Equal(t, "us-east-1a", az)
	_, ok := attr(ci.Attributes, "ecs.capability.container-ordering")
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now(), aws.ToTime(ci.RegisteredAt), time.Minute)

	// Re-registration by ARN keeps the ARN and updates resources; the custom
	// attribute, not sent again, survives.
	in := sdkRegisterInput("default")
	in.ContainerInstanceArn = aws.String(arn)
	in.TotalResources[0].IntegerValue = 4096
	in.Attributes = in.Attributes[:2]
	rereg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, arn, aws.ToString(rereg.ContainerInstance.ContainerInstanceArn))
	assert.Equal(t, int32(4096), rereg.ContainerInstance.RegisteredResources[0].IntegerValue)
	assert.Equal(t, int64(2), rereg.ContainerInstance.Version)
	custom, _ := attr(rereg.ContainerInstance.Attributes, "custom")
	assert.Equal(t, "1", custom)

	// The same EC2 instance registering again without its ARN gets it back.
	same, err := f.ecs.RegisterContainerInstance(ctx, sdkRegisterInput("default"))
	require.NoError(t, err)
	assert.Equal(t, arn, aws.ToString(same.ContainerInstance.ContainerInstanceArn))

	// Off EC2: empty identity document, a new instance each time.
	noDoc := sdkRegisterInput("default")
	noDoc.InstanceIdentityDocument = nil
	other, err := f.ecs.RegisterContainerInstance(ctx, noDoc)
	require.NoError(t, err)
	otherARN := aws.ToString(other.ContainerInstance.ContainerInstanceArn)
	assert.NotEqual(t, arn, otherARN)
	assert.Empty(t, aws.ToString(other.ContainerInstance.Ec2InstanceId))

	id := arn[len(arn)-32:]
	desc, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		ContainerInstances: []string{id, otherARN, "0123456789abcdef0123456789abcdef"},
		Include:            []types.ContainerInstanceField{types.ContainerInstanceFieldTags},
	})
	require.NoError(t, err)
	require.Len(t, desc.ContainerInstances, 2)
	got := desc.ContainerInstances[0]
	assert.Equal(t, arn, aws.ToString(got.ContainerInstanceArn))
	assert.Equal(t, "0.1.0", aws.ToString(got.VersionInfo.AgentVersion))
	assert.Equal(t, got.RegisteredResources, got.RemainingResources)
	assert.False(t, got.AgentConnected)
	require.Len(t, got.Tags, 1)
	require.Len(t, desc.Failures, 1)
	assert.Equal(t, "arn:aws:ecs:us-east-1:123456789012:container-instance/default/0123456789abcdef0123456789abcdef",
		aws.ToString(desc.Failures[0].Arn))
	assert.Equal(t, "MISSING", aws.ToString(desc.Failures[0].Reason))

	_, err = f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("nope"), ContainerInstances: []string{id}})
	requireAPIError(t, err, CodeClusterNotFound)

	upd, err := f.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		ContainerInstances: []string{arn, "missing"}, Status: types.ContainerInstanceStatusDraining,
	})
	require.NoError(t, err)
	require.Len(t, upd.ContainerInstances, 1)
	assert.Equal(t, "DRAINING", aws.ToString(upd.ContainerInstances[0].Status))
	require.Len(t, upd.Failures, 1)
	_, err = f.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		ContainerInstances: []string{arn}, Status: types.ContainerInstanceStatusRegistering,
	})
	requireAPIError(t, err, CodeInvalidParameter)

	list, err := f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Status: types.ContainerInstanceStatusDraining})
	require.NoError(t, err)
	assert.Equal(t, []string{arn}, list.ContainerInstanceArns)
	list, err = f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	require.NoError(t, err)
	assert.Len(t, list.ContainerInstanceArns, 2)
	paged, err := f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	assert.Len(t, paged.ContainerInstanceArns, 1)
	assert.NotEmpty(t, aws.ToString(paged.NextToken))

	dc, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), dc.Clusters[0].RegisteredContainerInstancesCount)
	_, err = f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")})
	requireAPIError(t, err, CodeClusterContainsInstances)

	dereg, err := f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(arn), Force: aws.Bool(true)})
	require.NoError(t, err)
	assert.Equal(t, "INACTIVE", aws.ToString(dereg.ContainerInstance.Status))
	f.mu.Lock()
	assert.Equal(t, []string{arn}, f.deregistered)
	f.mu.Unlock()

	_, err = f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String("0123456789abcdef0123456789abcdef")})
	requireAPIError(t, err, CodeInvalidParameter)

	// The deregistered instance cannot come back under its ARN.
	in = sdkRegisterInput("default")
	in.ContainerInstanceArn = aws.String(arn)
	_, err = f.ecs.RegisterContainerInstance(ctx, in)
	requireAPIError(t, err, CodeClientException)

	list, err = f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
	require.NoError(t, err)
	assert.Equal(t, []string{otherARN}, list.ContainerInstanceArns)
}

func TestDiscoverPollEndpoint(t *testing.T) {
	f := newFixture(t)
	out, err := f.ecs.DiscoverPollEndpoint(context.Background(), &ecs.DiscoverPollEndpointInput{
		Cluster: aws.String("default"), ContainerInstance: aws.String("x"),
	})
	require.NoError(t, err)
	assert.Equal(t, f.srv.URL, aws.ToString(out.Endpoint))
	assert.Equal(t, f.srv.URL+"/tcs", aws.ToString(out.TelemetryEndpoint))

	f.api.o.AdvertiseURL = "https://cp.example:8443/"
	out, err = f.ecs.DiscoverPollEndpoint(context.Background(), &ecs.DiscoverPollEndpointInput{})
	require.NoError(t, err)
	assert.Equal(t, "https://cp.example:8443", aws.ToString(out.Endpoint))
}

func TestAuthenticationErrors(t *testing.T) {
	f := newFixture(t)
	_, err := newClient(f.srv.URL, "wrong").ListClusters(context.Background(), &ecs.ListClustersInput{})
	requireAPIError(t, err, sigv4.CodeInvalidSignature)

	resp := rawCall(t, f.srv.URL, "ListClusters", `{}`, false)
	assert.Equal(t, http.StatusForbidden, resp.status)
	assert.Equal(t, sigv4.CodeMissingAuthenticationToken, resp.body["__type"])
	assert.Equal(t, "Missing Authentication Token", resp.body["message"])
}

type rawResponse struct {
	status int
	body   map[string]any
	raw    []byte
}

// rawCall sends a hand-made (optionally signed) request, for what the SDK
// would refuse to send.
func rawCall(t *testing.T, url, op, body string, signed bool) rawResponse {
	t.Helper()
	key := ""
	if signed {
		key = testKey
	}
	return rawCallAs(t, url, key, op, body)
}

// rawCallAs is rawCall signed with key ("" for unsigned).
func rawCallAs(t *testing.T, url, key, op, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", jsonContentType)
	if op != "" {
		req.Header.Set("X-Amz-Target", targetPrefix+op)
	}
	if key != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: testSecret}
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", testRegion, time.Now()))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, jsonContentType, resp.Header.Get("Content-Type"))
	out := rawResponse{status: resp.StatusCode, raw: raw}
	require.NoError(t, json.Unmarshal(raw, &out.body), string(raw))
	return out
}

func TestProtocolErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		op, body, code string
	}{
		{"NoSuchOperation", `{}`, CodeUnknownOperation},
		{"", `{}`, CodeUnknownOperation},
		{"CreateCluster", `{"clusterName":`, CodeSerialization},
		{"CreateCluster", `{"clusterName":5}`, CodeSerialization},
		{"DeleteCluster", `{}`, CodeInvalidParameter},
		{"DeregisterContainerInstance", `{}`, CodeInvalidParameter},
		{"DescribeContainerInstances", `{"containerInstances":[]}`, CodeInvalidParameter},
		{"UpdateContainerInstancesState", `{"containerInstances":["x"]}`, CodeInvalidParameter},
	}
	for _, c := range cases {
		t.Run(c.op+c.body, func(t *testing.T) {
			resp := rawCall(t, f.srv.URL, c.op, c.body, true)
			assert.Equal(t, http.StatusBadRequest, resp.status)
			assert.Equal(t, c.code, resp.body["__type"], string(resp.raw))
		})
	}
	resp := rawCall(t, f.srv.URL, "DeregisterContainerInstance", `{}`, true)
	assert.Contains(t, resp.body["message"], "containerInstance")
}

func TestRegisteredAtIsEpochSeconds(t *testing.T) {
	f := newFixture(t)
	f.api.o.Now = func() time.Time { return time.Unix(1700000000, 123_000_000) }
	rawCall(t, f.srv.URL, "CreateCluster", `{}`, true)
	resp := rawCall(t, f.srv.URL, "RegisterContainerInstance", `{"totalResources":[]}`, true)
	require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
	assert.Contains(t, string(resp.raw), `"registeredAt":1700000000.123`)
}

func TestRegistry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")})
	require.NoError(t, err)
	reg, err := f.ecs.RegisterContainerInstance(ctx, sdkRegisterInput("c"))
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)

	admin := authz.Principal{AccessKeyID: testKey, Role: authz.RoleAdmin}
	assert.NoError(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "c", arn))
	assert.NoError(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "arn:aws:ecs:us-east-1:123456789012:cluster/c", arn))
	assert.ErrorIs(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "other", arn), ErrClusterNotFound)
	assert.ErrorIs(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "c", arn+"0"), ErrInstanceNotFound)

	require.NoError(t, f.api.SetAgentConnected(ctx, arn, true))
	desc, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: []string{arn}})
	require.NoError(t, err)
	assert.True(t, desc.ContainerInstances[0].AgentConnected)
	assert.Equal(t, int64(2), desc.ContainerInstances[0].Version)

	require.NoError(t, f.api.MarkAllDisconnected())
	desc, err = f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: []string{arn}})
	require.NoError(t, err)
	assert.False(t, desc.ContainerInstances[0].AgentConnected)

	_, err = f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("c"), ContainerInstance: aws.String(arn)})
	require.NoError(t, err)
	assert.ErrorIs(t, f.api.CheckInstance(ctx, admin, authz.ActionPoll, "c", arn), ErrInstanceInactive)
	assert.ErrorIs(t, f.api.SetAgentConnected(ctx, "garbage", true), ErrInstanceNotFound)
}
