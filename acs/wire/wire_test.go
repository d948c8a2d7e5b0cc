package wire

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsframe/wsframetest"
)

// fill sets every field reachable from v to a non-zero value so that a round
// trip exercises every json tag.
func fill(v reflect.Value, depth int) { wsframetest.Fill(v, depth, nil) }

// codec is this package's functions for the shared wire checks.
var codec = wsframetest.Codec{New: New, ShapeNames: ShapeNames, Encode: Encode, Decode: Decode, Fill: fill}

func TestRoundTripEveryShape(t *testing.T) { wsframetest.RoundTripEveryShape(t, codec) }

// modelPath finds the ACS model (wsframetest.ModelPath): without it the
// tests that compare against it skip, except under CI=true.
func modelPath(t *testing.T) string { return wsframetest.ModelPath(t, "ACS", "acs-api-2.json") }

// TestEveryModelShapeHasAType guards against a stale types_gen.go.
func TestEveryModelShapeHasAType(t *testing.T) {
	wsframetest.EveryModelShapeHasAType(t, modelPath(t), codec)
}

func TestGeneratedFileIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	// The options are those of the go:generate line in wire.go.
	wsframetest.GeneratedFileIsCurrent(t, modelPath(t), "acs/wire",
		"-service", "ACS", "-pointer", "HeartbeatMessage.healthy", "-record-unknown", "Task")
}

// examplePayload is the PayloadMessage of reference §5.7.
const examplePayload = `{"type":"PayloadMessage","message":{
 "messageId":"m-123","clusterArn":"arn:aws:ecs:us-west-2:123456789012:cluster/default",
 "containerInstanceArn":"arn:aws:ecs:us-west-2:123456789012:container-instance/default/abc","generatedAt":1700000000,"seqNum":7,
 "tasks":[{"arn":"arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef","family":"web","version":"3",
   "desiredStatus":"RUNNING","taskDefinitionAccountId":"123456789012","networkMode":"bridge","launchType":"EC2",
   "cpu":0.25,"memory":512,"overrides":"{}",
   "containers":[{"name":"app","image":"nginx:1.25","cpu":256,"memory":512,"essential":true,
     "portMappings":[{"containerPort":80,"hostPort":0,"protocol":"tcp"}],"environment":{"MODE":"prod"},
     "mountPoints":[{"sourceVolume":"data","containerPath":"/data","readOnly":false}],"volumesFrom":[],"links":[],
     "command":["nginx","-g","daemon off;"],"overrides":"{}","stopTimeout":30,
     "dependsOn":[{"containerName":"init","condition":"SUCCESS"}],"healthCheckType":"docker",
     "dockerConfig":{"version":"1.17","config":"{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f localhost\"]}}",
                     "hostConfig":"{\"MemoryReservation\":268435456,\"LogConfig\":{\"Type\":\"json-file\"}}"}},
    {"name":"init","image":"busybox","cpu":10,"memory":32,"essential":false,"command":["true"]}],
   "volumes":[{"name":"data","type":"host","host":{"sourcePath":"/srv/data"}}],
   "roleCredentials":{"credentialsId":"c-1","roleArn":"arn:aws:iam::123456789012:role/app","accessKeyId":"AKIA..",
     "secretAccessKey":"..","sessionToken":"..","expiration":"2026-01-01T00:00:00Z"}}]}}`

func TestDecodeReferencePayload(t *testing.T) {
	got, err := Decode([]byte(examplePayload))
	require.NoError(t, err)
	p, ok := got.(*PayloadMessage)
	require.True(t, ok, "got %T", got)

	assert.Equal(t, "m-123", p.MessageID)
	assert.Equal(t, int64(1700000000), p.GeneratedAt)
	assert.Equal(t, 7, p.SeqNum)
	assert.Nil(t, p.Timeline)
	require.Len(t, p.Tasks, 1)
	task := p.Tasks[0]
	assert.Equal(t, "3", task.Version)
	assert.Equal(t, 0.25, task.CPU)
	assert.Equal(t, 512, task.Memory)
	assert.Equal(t, "{}", task.Overrides)
	require.Len(t, task.Containers, 2)
	app := task.Containers[0]
	assert.True(t, app.Essential)
	assert.Equal(t, []PortMapping{{ContainerPort: 80, Protocol: TransportProtocolTCP}}, app.PortMappings)
	assert.Equal(t, map[string]string{"MODE": "prod"}, app.Environment)
	assert.Equal(t, []ContainerDependency{{ContainerName: "init", Condition: ContainerConditionSuccess}}, app.DependsOn)
	assert.Equal(t, HealthCheckTypeDocker, app.HealthCheckType)
	require.NotNil(t, app.DockerConfig)
	assert.Contains(t, app.DockerConfig.HostConfig, "MemoryReservation")
	assert.Equal(t, 30, app.StopTimeout)
	assert.Nil(t, app.Privileged)
	assert.False(t, task.Containers[1].Essential)
	require.Len(t, task.Volumes, 1)
	assert.Equal(t, VolumeTypeHost, task.Volumes[0].Type)
	assert.Equal(t, "/srv/data", task.Volumes[0].Host.SourcePath)
	require.NotNil(t, task.RoleCredentials)
	assert.Equal(t, "2026-01-01T00:00:00Z", task.RoleCredentials.Expiration)

	// Re-encoding keeps every non-empty value; only empty lists and false/0
	// scalars that mean the same as absent are dropped.
	frame, err := Encode(p)
	require.NoError(t, err)
	again, err := Decode(frame)
	require.NoError(t, err)
	frame2, err := Encode(again)
	require.NoError(t, err)
	assert.Equal(t, string(frame), string(frame2))
	assert.Equal(t, p.Tasks[0].Containers[0].Command, again.(*PayloadMessage).Tasks[0].Containers[0].Command)
	assert.NotContains(t, string(frame), "volumesFrom")
}

func TestHeartbeatHealthyAbsentIsNil(t *testing.T) {
	got, err := Decode([]byte(`{"type":"HeartbeatMessage","message":{"messageId":"h1"}}`))
	require.NoError(t, err)
	hb := got.(*HeartbeatMessage)
	assert.Nil(t, hb.Healthy)

	f := false
	frame, err := Encode(HeartbeatMessage{Healthy: &f, MessageID: "h2"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"HeartbeatMessage","message":{"healthy":false,"messageId":"h2"}}`, string(frame))
}

func TestDecodeUnknownType(t *testing.T) {
	_, err := Decode([]byte(`{"type":"NoSuchMessage","message":{}}`))
	require.ErrorIs(t, err, ErrUnknownType)
	assert.Contains(t, err.Error(), "NoSuchMessage")

	_, err = Decode([]byte(`not json`))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrUnknownType)

	_, err = Encode(struct{}{})
	require.ErrorIs(t, err, ErrUnknownType)
}

func TestDecodeMissingMessage(t *testing.T) {
	got, err := Decode([]byte(`{"type":"CloseMessage"}`))
	require.NoError(t, err)
	assert.Equal(t, &CloseMessage{}, got)
}

func TestHandshakeErrors(t *testing.T) {
	for _, code := range []string{
		"InvalidClusterException", "InvalidInstanceException", "InactiveInstanceException",
		"AccessDeniedException", "BadRequestException", "ServerException",
	} {
		body := EncodeHandshakeError(code, "because")
		e, err := DecodeHandshakeError(body)
		require.NoError(t, err, code)
		assert.Equal(t, code, e.ErrorCode())
		assert.Contains(t, e.Error(), "because")
	}

	e, err := DecodeHandshakeError([]byte(`{"InvalidClusterException":"Invalid cluster"}`))
	require.NoError(t, err)
	var ic *InvalidClusterException
	require.True(t, errors.As(e, &ic))
	assert.Equal(t, "Invalid cluster", ic.Message)

	_, err = DecodeHandshakeError([]byte(`{"WeirdException":"x"}`))
	require.ErrorIs(t, err, ErrUnknownType)
	_, err = DecodeHandshakeError([]byte(`{"a":"x","b":"y"}`))
	require.Error(t, err)
	_, err = DecodeHandshakeError([]byte(`<html>`))
	require.Error(t, err)
}

func TestCredentialsAreRedacted(t *testing.T) {
	c := IAMRoleCredentials{CredentialsID: "c-1", AccessKeyID: "AKIA", SecretAccessKey: "TOPSECRET", SessionToken: "TOKENVALUE"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("creds", "c", c, "p", &c)
	s := buf.String() + fmt.Sprintf("%v %+v", c, &c)
	assert.NotContains(t, s, "TOPSECRET")
	assert.NotContains(t, s, "TOKENVALUE")
	assert.Contains(t, s, "c-1")
}

// A frame of empty objects would decode into hundreds of bytes per byte;
// it is refused before decoding, while real frames of any size pass.
func TestDecodeRefusesFramesOfEmptyObjects(t *testing.T) {
	frame := `{"type":"PayloadMessage","message":{"tasks":[` + strings.Repeat("{},", 500) + `{}]}}`
	_, err := Decode([]byte(frame))
	require.ErrorIs(t, err, ErrTooComplex)
	assert.Contains(t, err.Error(), "JSON objects and nulls in")

	nulls := `{"type":"PayloadMessage","message":{"tasks":[` + strings.Repeat("null,", 500) + `null]}}`
	_, err = Decode([]byte(nulls))
	require.ErrorIs(t, err, ErrTooComplex)

	var tasks []string
	for range 100 {
		tasks = append(tasks, `{"arn":"arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef","desiredStatus":"STOPPED"}`)
	}
	_, err = Decode([]byte(`{"type":"PayloadMessage","message":{"tasks":[` + strings.Join(tasks, ",") + `]}}`))
	require.NoError(t, err, "a hundred stop orders are not too complex")
	_, err = Decode([]byte(`{"type":"ErrorMessage","message":{"message":"{{{{ null null {{{{"}}`))
	require.NoError(t, err, "braces and nulls inside strings do not count")
}
