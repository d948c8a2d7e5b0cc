package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsframe/wsframetest"
)

var timestampType = reflect.TypeFor[Timestamp]()

// fill sets every field reachable from v to a non-zero value so that a round
// trip exercises every json tag; a Timestamp gets a time of millisecond
// precision, which is what it carries.
func fill(v reflect.Value, depth int) {
	wsframetest.Fill(v, depth, func(v reflect.Value, depth int) bool {
		if v.Type() != timestampType {
			return false
		}
		v.Set(reflect.ValueOf(At(time.UnixMilli(1704164645123 + int64(depth)).UTC())))
		return true
	})
}

// codec is this package's functions for the shared wire checks.
var codec = wsframetest.Codec{New: New, ShapeNames: ShapeNames, Encode: Encode, Decode: Decode, Fill: fill}

func TestRoundTripEveryShape(t *testing.T) { wsframetest.RoundTripEveryShape(t, codec) }

// modelPath finds the TCS model (wsframetest.ModelPath): without it the
// tests that compare against it skip, except under CI=true.
func modelPath(t *testing.T) string { return wsframetest.ModelPath(t, "TCS", "tcs-api-2.json") }

func TestEveryModelShapeHasAType(t *testing.T) {
	wsframetest.EveryModelShapeHasAType(t, modelPath(t), codec)
}

func TestGeneratedFileIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	// The options are those of the go:generate line in wire.go.
	wsframetest.GeneratedFileIsCurrent(t, modelPath(t), "tcs/wire",
		"-service", "TCS", "-pointer", "HeartbeatMessage.healthy",
		"-always-send", "CWStatsSet,UDoubleCWStatsSet,ULongStatsSet,RestartStatsSet,MetricsMetadata,HealthMetadata")
}

// A stats set of an idle container has a minimum, maximum and sum of 0; they
// are values, and the wire must carry them, as it must carry fin=false.
func TestZeroStatsAreSent(t *testing.T) {
	frame, err := Encode(PublishMetricsRequest{
		Metadata: &MetricsMetadata{Cluster: "c", ContainerInstance: "ci", MessageID: "m"},
		TaskMetrics: []TaskMetric{{TaskARN: "t", ContainerMetrics: []ContainerMetric{{
			ContainerName:   "app",
			CPUStatsSet:     &CWStatsSet{SampleCount: 3},
			RestartStatsSet: &RestartStatsSet{},
			NetworkStatsSet: &NetworkStatsSet{RxBytes: &ULongStatsSet{SampleCount: 3}},
		}}}},
		Timestamp: At(time.Unix(1704164645, 0)),
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"PublishMetricsRequest","message":{
		"metadata":{"cluster":"c","containerInstance":"ci","messageId":"m","idle":false,"fin":false},
		"taskMetrics":[{"taskArn":"t","containerMetrics":[{"containerName":"app",
			"cpuStatsSet":{"min":0,"max":0,"sampleCount":3,"sum":0},
			"restartStatsSet":{"restartCount":0},
			"networkStatsSet":{"rxBytes":{"min":0,"max":0,"sampleCount":3,"sum":0,"overflowMin":0,"overflowMax":0,"overflowSum":0}}}]}],
		"timestamp":1704164645}}`, string(frame))
}

func TestTimestampIsEpochSeconds(t *testing.T) {
	ts := At(time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC))
	b, err := json.Marshal(ContainerHealth{ContainerName: "app", HealthStatus: HealthStatusHealthy, StatusSince: ts})
	require.NoError(t, err)
	assert.JSONEq(t, `{"containerName":"app","healthStatus":"HEALTHY","statusSince":1704164645.123}`, string(b))

	var back ContainerHealth
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, back.StatusSince.Equal(ts.Time), "got %v", back.StatusSince)

	b, err = json.Marshal(ContainerHealth{ContainerName: "app"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"containerName":"app"}`, string(b), "a zero timestamp is left out")

	require.NoError(t, json.Unmarshal([]byte(`{"statusSince":1704164645}`), &back))
	assert.Equal(t, int64(1704164645), back.StatusSince.Unix())

	err = json.Unmarshal([]byte(`{"statusSince":"2024-01-02T03:04:05Z"}`), &back)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "epoch seconds")
}

func TestHeartbeatHealthyAbsentIsNil(t *testing.T) {
	got, err := Decode([]byte(`{"type":"HeartbeatMessage","message":{}}`))
	require.NoError(t, err)
	assert.Nil(t, got.(*HeartbeatMessage).Healthy)
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

func TestHandshakeErrors(t *testing.T) {
	for _, code := range []string{"BadRequestException", "ServerException", "ResourceValidationException", "InvalidParameterException"} {
		e, err := DecodeHandshakeError(EncodeHandshakeError(code, "because"))
		require.NoError(t, err, code)
		assert.Equal(t, code, e.ErrorCode())
		assert.Contains(t, e.Error(), "because")
	}
	e, err := DecodeHandshakeError([]byte(`{"BadRequestException":"bad"}`))
	require.NoError(t, err)
	var br *BadRequestException
	require.True(t, errors.As(e, &br))
	assert.Equal(t, "bad", br.Message)

	_, err = DecodeHandshakeError([]byte(`{"WeirdException":"x"}`))
	require.ErrorIs(t, err, ErrUnknownType)
	_, err = DecodeHandshakeError([]byte(`{"a":"x","b":"y"}`))
	require.Error(t, err)
}
