package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/sigv4"
)

const instanceARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef0123456789abcdef"

func TestAuthorize(t *testing.T) {
	admin := Principal{AccessKeyID: "AKIAADMIN", ARN: "arn:aws:iam::000000000000:user/default", Role: RoleAdmin}
	agent := Principal{AccessKeyID: "AKIAAGENT1", ARN: "arn:aws:iam::000000000000:user/agent1", Role: RoleAgent}
	own := &Instance{ARN: instanceARN, Owner: "AKIAAGENT1"}
	other := &Instance{ARN: instanceARN, Owner: "AKIAAGENT2"}
	legacy := &Instance{ARN: instanceARN}

	cases := []struct {
		name   string
		p      Principal
		action string
		inst   *Instance
		denied string // "" = allowed; else a part of the message
	}{
		{"admin runs tasks", admin, "RunTask", nil, ""},
		{"admin acts on any instance", admin, "SubmitTaskStateChange", other, ""},
		{"admin acts on a legacy instance", admin, ActionPoll, legacy, ""},
		{"agent registers", agent, "RegisterContainerInstance", nil, ""},
		{"agent creates a cluster", agent, "CreateCluster", nil, ""},
		{"agent discovers", agent, "DiscoverPollEndpoint", nil, ""},
		{"agent submits for its instance", agent, "SubmitTaskStateChange", own, ""},
		{"agent opens its ACS session", agent, ActionPoll, own, ""},
		{"agent opens its TCS session", agent, ActionStartTelemetrySession, own, ""},
		{"agent drains its instance", agent, "UpdateContainerInstancesState", own, ""},
		{"agent runs a task", agent, "RunTask", nil, "ecs:RunTask because its access key AKIAAGENT1 has ecs_role = agent"},
		{"agent deletes a cluster", agent, "DeleteCluster", nil, "ecs:DeleteCluster because"},
		{"agent lists instances", agent, "ListContainerInstances", nil, "AmazonEC2ContainerServiceforEC2Role"},
		// The role grants ecs:TagResource only with tags given at creation
		// (RegisterContainerInstance's own tags), and none of the attribute,
		// cluster update or task definition deletion actions.
		{"agent tags a resource", agent, "TagResource", nil, "ecs:TagResource because"},
		{"agent untags a resource", agent, "UntagResource", nil, "ecs:UntagResource because"},
		{"agent lists tags", agent, "ListTagsForResource", nil, "ecs:ListTagsForResource because"},
		{"agent puts attributes", agent, "PutAttributes", nil, "ecs:PutAttributes because"},
		{"agent lists attributes", agent, "ListAttributes", nil, "ecs:ListAttributes because"},
		{"agent deletes attributes", agent, "DeleteAttributes", nil, "ecs:DeleteAttributes because"},
		{"agent updates a cluster", agent, "UpdateCluster", nil, "ecs:UpdateCluster because"},
		{"agent updates cluster settings", agent, "UpdateClusterSettings", nil, "ecs:UpdateClusterSettings because"},
		{"agent deletes task definitions", agent, "DeleteTaskDefinitions", nil, "ecs:DeleteTaskDefinitions because"},
		{"admin puts attributes", admin, "PutAttributes", nil, ""},
		{"agent submits for another instance", agent, "SubmitTaskStateChange", other,
			"ecs:SubmitTaskStateChange on resource: " + instanceARN + " because the container instance was registered with another access key"},
		{"agent opens another instance's session", agent, ActionPoll, other, "registered with another access key"},
		{"agent deregisters another instance", agent, "DeregisterContainerInstance", other, "another access key"},
		{"agent acts on a legacy instance", agent, ActionPoll, legacy, "no recorded owner"},
		{"unknown role", Principal{AccessKeyID: "AKIAX", Role: Role(9)}, "DiscoverPollEndpoint", nil, "Role(9)"},
		{"no role", Principal{Role: RoleNone}, "DiscoverPollEndpoint", nil, "ecs_role = none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Authorize(c.action, c.inst)
			if c.denied == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrAccessDenied)
			var d *DeniedError
			require.True(t, errors.As(err, &d))
			assert.Equal(t, "AccessDeniedException", d.ErrorCode())
			assert.Equal(t, http.StatusBadRequest, d.HTTPStatusCode())
			assert.Contains(t, d.ErrorMessage(), c.denied)
			assert.True(t, strings.HasPrefix(d.ErrorMessage(), "User: "+c.p.ARN+" is not authorized to perform: ecs:"+c.action), d.ErrorMessage())
		})
	}
}

func TestParseRole(t *testing.T) {
	r, err := ParseRole("agent")
	require.NoError(t, err)
	assert.Equal(t, RoleAgent, r)
	r, err = ParseRole("admin")
	require.NoError(t, err)
	assert.Equal(t, RoleAdmin, r)
	_, err = ParseRole("root")
	assert.ErrorContains(t, err, "want admin or agent")
	assert.Equal(t, RoleAdmin, Role(0), "a profile without ecs_role is admin")
}

func TestContext(t *testing.T) {
	_, ok := FromContext(context.Background())
	assert.False(t, ok)
	p := Principal{AccessKeyID: "AKIA1", Role: RoleAgent}
	got, ok := FromContext(NewContext(context.Background(), p))
	require.True(t, ok)
	assert.Equal(t, p, got)
}

func signedRequest(t *testing.T, key, secret string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:51677/", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()))
	return req
}

func TestAuthenticatorResolvesThePrincipal(t *testing.T) {
	a := NewAuthenticator("ecs", "us-east-1", "000000000000", Keyring{
		"AKIAADMIN":  {SecretAccessKey: "admin-secret", Name: "default"},
		"AKIAAGENT":  {SecretAccessKey: "agent-secret", Role: RoleAgent, Name: "agent"},
		"AKIANONAME": {SecretAccessKey: "x"},
	})
	body := []byte(`{}`)

	p, err := a.Begin(signedRequest(t, "AKIAAGENT", "agent-secret", body))
	require.NoError(t, err)
	assert.Equal(t, "AKIAAGENT", p.AccessKeyID())
	got, err := p.Finish(body)
	require.NoError(t, err)
	assert.Equal(t, Principal{AccessKeyID: "AKIAAGENT", ARN: "arn:aws:iam::000000000000:user/agent", Role: RoleAgent}, got)

	p, err = a.Begin(signedRequest(t, "AKIANONAME", "x", body))
	require.NoError(t, err)
	got, err = p.Finish(body)
	require.NoError(t, err)
	assert.Equal(t, RoleAdmin, got.Role)
	assert.Equal(t, "arn:aws:iam::000000000000:user/AKIANONAME", got.ARN)

	// The wrong secret passes the header checks and fails on the signature.
	p, err = a.Begin(signedRequest(t, "AKIAADMIN", "not-the-secret", body))
	require.NoError(t, err)
	_, err = p.Finish(body)
	var se *sigv4.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, sigv4.CodeInvalidSignature, se.Code)

	_, err = a.Begin(signedRequest(t, "AKIAUNKNOWN", "x", body))
	require.ErrorAs(t, err, &se)
	assert.Equal(t, sigv4.CodeUnrecognizedClient, se.Code)
}
