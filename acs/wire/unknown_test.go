package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeTask(t *testing.T, taskJSON string) *Task {
	t.Helper()
	msg, err := Decode([]byte(`{"type":"PayloadMessage","message":{"messageId":"m","tasks":[` + taskJSON + `]}}`))
	require.NoError(t, err)
	p := msg.(*PayloadMessage)
	require.Len(t, p.Tasks, 1)
	return &p.Tasks[0]
}

func TestTaskRecordsUnknownMembers(t *testing.T) {
	task := decodeTask(t, `{"arn":"a","gpuIds":["0"],
		"containers":[{"name":"app","versionConsistency":"enabled",
			"portMappings":[{"containerPort":80,"hostIp":"127.0.0.1"}],
			"dockerConfig":{"config":"{}","extra":1}},
			{"name":"side"}],
		"volumes":[{"name":"v","efsVolumeConfiguration":{"fileSystemId":"fs-1","newOption":true}}],
		"roleCredentials":{"credentialsId":"c","scope":"x"}}`)
	assert.Equal(t, "a", task.ARN, "the known members are decoded")
	assert.Equal(t, 80, task.Containers[0].PortMappings[0].ContainerPort)
	assert.Equal(t, []string{
		"containers[0].dockerConfig.extra",
		"containers[0].portMappings[0].hostIp",
		"containers[0].versionConsistency",
		"gpuIds",
		"roleCredentials.scope",
		"volumes[0].efsVolumeConfiguration.newOption",
	}, task.UnknownMembers)
}

// encoding/json matches member names case-insensitively, so a differently
// cased known member is decoded, not dropped, and is not unknown.
func TestTaskMemberCaseFoldsLikeEncodingJSON(t *testing.T) {
	task := decodeTask(t, `{"ARN":"a","Containers":[{"Name":"app","PORTMAPPINGS":[{"ContainerPort":80}]}],"Volumes":null}`)
	assert.Equal(t, "a", task.ARN)
	assert.Equal(t, 80, task.Containers[0].PortMappings[0].ContainerPort)
	assert.Empty(t, task.UnknownMembers)
}

func TestReferencePayloadHasNoUnknownMembers(t *testing.T) {
	got, err := Decode([]byte(examplePayload))
	require.NoError(t, err)
	for _, task := range got.(*PayloadMessage).Tasks {
		assert.Nil(t, task.UnknownMembers)
	}
}

// A Task decoded again forgets what an earlier decode recorded.
func TestTaskDecodeResetsUnknownMembers(t *testing.T) {
	task := decodeTask(t, `{"arn":"a","extra":1}`)
	require.Equal(t, []string{"extra"}, task.UnknownMembers)
	require.NoError(t, task.UnmarshalJSON([]byte(`{"arn":"b"}`)))
	assert.Nil(t, task.UnknownMembers)
}

// BenchmarkDecodeReferencePayload measures decoding the reference
// PayloadMessage, with the walk that records unknown task members.
func BenchmarkDecodeReferencePayload(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode([]byte(examplePayload)); err != nil {
			b.Fatal(err)
		}
	}
}
