package agent

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/statemanager"
	"github.com/open-ecs/ecs-agent/version"
)

var discard = slog.New(slog.DiscardHandler)

func testRequest(cluster string) registerRequest {
	return registerRequest{
		Cluster:   cluster,
		Identity:  ec2metadata.Identity{Region: "us-west-2", Document: `{"instanceId":"i-1"}`, Signature: "sig"},
		Resources: HostResources{CPU: 2048, MemoryMiB: 3000, PortsTCP: []uint16{22, 51678}},
		Docker:    dockerapi.VersionInfo{ServerVersion: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12"},
		Custom:    map[string]string{"stack": "prod"},
		Tags:      map[string]string{"team": "infra", "env": "dev"},
	}
}

func TestRegisterRequestWireShape(t *testing.T) {
	stub := newECSStub(t)
	api := testECSClient(t, stub.URL())

	reg, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
	require.NoError(t, err)
	assert.Contains(t, reg.ContainerInstanceARN, ":container-instance/default/")
	assert.Equal(t, "us-west-2b", reg.AvailabilityZone, "AZ from the returned attributes")

	rci := stub.registrations()
	require.Len(t, rci, 1)
	in := rci[0]
	assert.Equal(t, "default", in["cluster"])
	assert.NotContains(t, in, "containerInstanceArn", "first registration")
	assert.Equal(t, `{"instanceId":"i-1"}`, in["instanceIdentityDocument"])
	assert.Equal(t, "sig", in["instanceIdentityDocumentSignature"])
	assert.Equal(t, []any{
		map[string]any{"name": "CPU", "type": "INTEGER", "integerValue": float64(2048)},
		map[string]any{"name": "MEMORY", "type": "INTEGER", "integerValue": float64(3000)},
		map[string]any{"name": "PORTS", "type": "STRINGSET", "stringSetValue": []any{"22", "51678"}},
		map[string]any{"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []any{}},
	}, in["totalResources"])
	assert.Equal(t, map[string]any{
		"agentVersion": version.Version, "agentHash": version.GitHash, "dockerVersion": "DockerVersion: 20.10.24",
	}, in["versionInfo"])
	assert.Equal(t, []any{
		map[string]any{"key": "env", "value": "dev"},
		map[string]any{"key": "team", "value": "infra"},
	}, in["tags"])
	attrs := attrNames(in)
	assert.Equal(t, "prod", attrs["stack"])
	assert.Equal(t, "linux", attrs["ecs.os-type"])
	assert.Contains(t, attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.32")
	assert.True(t, strings.HasPrefix(stub.lastUserAgent(), version.String()+" (linux; "), stub.lastUserAgent())
	assert.Contains(t, stub.lastUserAgent(), "aws-sdk-go-v2", "the SDK's part is kept")
}

func TestReRegisterSendsARNWithoutCustomAttributes(t *testing.T) {
	stub := newECSStub(t)
	api := testECSClient(t, stub.URL())
	req := testRequest("default")
	req.RestoredARN = "arn:aws:ecs:us-west-2:123456789012:container-instance/default/abc"

	reg, err := register(t.Context(), api, req, fastPolicy, discard)
	require.NoError(t, err)
	assert.Equal(t, req.RestoredARN, reg.ContainerInstanceARN)
	in := stub.registrations()[0]
	assert.Equal(t, req.RestoredARN, in["containerInstanceArn"])
	assert.NotContains(t, attrNames(in), "stack", "custom attributes go with the first registration only")
}

func TestRegisterRetriesTransientErrors(t *testing.T) {
	stub := newECSStub(t)
	stub.rciErrs = []stubError{
		{http.StatusInternalServerError, "ServerException"},
		{http.StatusBadRequest, "ThrottlingException"},
		{http.StatusServiceUnavailable, "ServiceUnavailable"},
		{http.StatusTooManyRequests, "TooManyRequests"},
	}
	api := testECSClient(t, stub.URL())

	reg, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
	require.NoError(t, err)
	assert.NotEmpty(t, reg.ContainerInstanceARN)
	assert.Len(t, stub.registrations(), 5)
}

func TestRegisterTerminalErrors(t *testing.T) {
	for _, code := range []string{
		"ClientException", "InvalidParameterException", "AccessDeniedException",
		"UnrecognizedClientException", "InvalidSignatureException",
	} {
		t.Run(code, func(t *testing.T) {
			stub := newECSStub(t)
			stub.rciErrs = []stubError{{http.StatusBadRequest, code}}
			api := testECSClient(t, stub.URL())

			_, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
			require.ErrorIs(t, err, ErrTerminal)
			assert.Contains(t, err.Error(), code)
			assert.Len(t, stub.registrations(), 1, "no retry")
		})
	}
}

func TestRegisterOtherErrorIsNotTerminal(t *testing.T) {
	stub := newECSStub(t)
	stub.rciErrs = []stubError{{http.StatusBadRequest, "SomethingNewException"}}
	api := testECSClient(t, stub.URL())

	_, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrTerminal, "exit 1: the supervisor restarts the agent")
	assert.Len(t, stub.registrations(), 1)
}

func TestRegisterCreatesDefaultCluster(t *testing.T) {
	stub := newECSStub(t)
	stub.clusters = map[string]bool{}
	api := testECSClient(t, stub.URL())

	reg, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
	require.NoError(t, err)
	assert.NotEmpty(t, reg.ContainerInstanceARN)
	assert.Equal(t, []string{"default"}, stub.createdClusters())
	assert.Len(t, stub.registrations(), 2)
}

func TestRegisterMissingNamedClusterIsTerminal(t *testing.T) {
	stub := newECSStub(t)
	api := testECSClient(t, stub.URL())

	_, err := register(t.Context(), api, testRequest("prod"), fastPolicy, discard)
	require.ErrorIs(t, err, ErrTerminal)
	assert.Contains(t, err.Error(), `cluster "prod" does not exist`)
	assert.Empty(t, stub.created, "only the default cluster is created")
}

func TestRegisterTerminalOnReRegisterNamesTheFix(t *testing.T) {
	stub := newECSStub(t)
	stub.rciErrs = []stubError{{http.StatusBadRequest, "InvalidParameterException"}}
	api := testECSClient(t, stub.URL())
	req := testRequest("default")
	req.RestoredARN = "arn:aws:ecs:us-west-2:1:container-instance/default/gone"

	_, err := register(t.Context(), api, req, fastPolicy, discard)
	require.ErrorIs(t, err, ErrTerminal)
	assert.Contains(t, err.Error(), "ECS_DATADIR")
}

func TestRegisterAttributeMismatchIsTerminal(t *testing.T) {
	stub := newECSStub(t)
	stub.dropAttr = "stack"
	api := testECSClient(t, stub.URL())

	_, err := register(t.Context(), api, testRequest("default"), fastPolicy, discard)
	require.ErrorIs(t, err, ErrTerminal)
	assert.Contains(t, err.Error(), "stack")
}

func TestRegisterWithoutAttributeEcho(t *testing.T) {
	stub := newECSStub(t)
	stub.echoAttrs = false
	api := testECSClient(t, stub.URL())
	req := testRequest("default")
	req.Identity.AvailabilityZone = "us-west-2a"

	reg, err := register(t.Context(), api, req, fastPolicy, discard)
	require.NoError(t, err)
	assert.Equal(t, "us-west-2a", reg.AvailabilityZone, "falls back to the IMDS zone")
}

func TestRegisterConnectionRefusedRetriesWithinBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens here now

	api := testECSClient(t, "http://"+addr)
	pol := fastPolicy
	pol.budget = 50 * pol.max
	_, err = register(t.Context(), api, testRequest("default"), pol, discard)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrTerminal)
	assert.Contains(t, err.Error(), "still failing")
}

func TestRegisterStopsOnCancel(t *testing.T) {
	stub := newECSStub(t)
	for range 100 {
		stub.rciErrs = append(stub.rciErrs, stubError{http.StatusInternalServerError, "ServerException"})
	}
	api := testECSClient(t, stub.URL())
	ctx, cancel := contextCancelledAfterRequests(t, stub, 2)
	defer cancel()

	slow := retryPolicy{min: fastPolicy.min, max: fastPolicy.max, budget: fastPolicy.budget}
	_, err := register(ctx, api, testRequest("default"), slow, discard)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ctx.Err()))
	assert.NotErrorIs(t, err, ErrTerminal)
}

func TestClassify(t *testing.T) {
	assert.Equal(t, kindOther, classify(errors.New("boom")))
}

// The first registration carries the saved clientToken, on every attempt;
// a re-registration (with the saved ARN) does not.
func TestRegisterSendsTheSavedClientToken(t *testing.T) {
	stub := newECSStub(t)
	stub.rciErrs = []stubError{{http.StatusInternalServerError, "ServerException"}} // the response is lost once
	api := testECSClient(t, stub.URL())
	store := statemanager.NewMemory()
	token, err := registrationClientToken(store)
	require.NoError(t, err)
	require.NotEmpty(t, token)

	req := testRequest("default")
	req.ClientToken = token
	_, err = register(t.Context(), api, req, fastPolicy, discard)
	require.NoError(t, err)
	rci := stub.registrations()
	require.Len(t, rci, 2)
	assert.Equal(t, token, rci[0]["clientToken"])
	assert.Equal(t, token, rci[1]["clientToken"], "the retry names the same registration")
	assert.Equal(t, "default", rci[1]["cluster"], "the rest of the body is kept")
	assert.Len(t, asSlice(rci[1]["totalResources"]), 4)

	// A restarted agent that has not saved an ARN yet sends it again.
	again, err := registrationClientToken(store)
	require.NoError(t, err)
	assert.Equal(t, token, again)

	req.RestoredARN = "arn:aws:ecs:us-west-2:123456789012:container-instance/default/abc"
	_, err = register(t.Context(), api, req, fastPolicy, discard)
	require.NoError(t, err)
	assert.NotContains(t, stub.registrations()[2], "clientToken", "a re-registration names its ARN instead")
}

func TestRegistrationClientTokenIsSavedBeforeUse(t *testing.T) {
	dir := t.TempDir()
	s, err := statemanager.OpenBolt(dir, statemanager.BoltOptions{})
	require.NoError(t, err)
	token, err := registrationClientToken(s)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = statemanager.OpenBolt(dir, statemanager.BoltOptions{})
	require.NoError(t, err)
	defer s.Close()
	got, err := statemanager.Metadata{Store: s}.Get(statemanager.KeyRegistrationClientToken)
	require.NoError(t, err)
	assert.Equal(t, token, got)
	other, err := registrationClientToken(statemanager.NewMemory())
	require.NoError(t, err)
	assert.NotEqual(t, token, other, "each host has its own")
}

// A registration whose answer never arrived (the agent exited in between)
// is repeated with the same clientToken after the restart; once the ARN is
// saved, the agent re-registers with the ARN.
func TestRunRepeatsTheClientTokenAfterALostRegistration(t *testing.T) {
	h := newHarness(t)
	h.stub.set(func(s *ecsStub) { s.rciErrs = []stubError{{http.StatusBadRequest, "ConnectionLostInTest"}} })
	require.Error(t, h.runErr())

	first, stop := h.start()
	require.NoError(t, stop())
	_, stop = h.start()
	require.NoError(t, stop())

	rci := h.stub.registrations()
	require.Len(t, rci, 3)
	token, _ := rci[0]["clientToken"].(string)
	require.NotEmpty(t, token)
	assert.Equal(t, token, rci[1]["clientToken"], "the restarted agent names the same registration")
	assert.NotContains(t, rci[2], "clientToken")
	assert.Equal(t, first.ContainerInstanceARN, rci[2]["containerInstanceArn"])
}
