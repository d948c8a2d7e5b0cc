package wsframe_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/wsframe"
)

type ping struct {
	ID string `json:"id,omitempty"`
}

func (ping) ShapeName() string { return "Ping" }

type refused struct{ Message string }

func (e *refused) Error() string     { return "Refused: " + e.Message }
func (e *refused) ErrorCode() string { return "Refused" }

var errUnknown = errors.New("unknown test message type")

var model = &wsframe.Model{
	Service:        "TEST",
	Shapes:         map[string]func() wsframe.Message{"Ping": func() wsframe.Message { return &ping{} }},
	Exceptions:     map[string]func(string) wsframe.Exception{"Refused": func(m string) wsframe.Exception { return &refused{Message: m} }},
	ErrUnknownType: errUnknown,
}

func TestEncodeDecode(t *testing.T) {
	frame, err := model.Encode(ping{ID: "p1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"Ping","message":{"id":"p1"}}`, string(frame))
	byPointer, err := model.Encode(&ping{ID: "p1"})
	require.NoError(t, err)
	assert.Equal(t, frame, byPointer)

	got, err := model.Decode(frame)
	require.NoError(t, err)
	assert.Equal(t, &ping{ID: "p1"}, got)

	for _, empty := range []string{`{"type":"Ping"}`, `{"type":"Ping","message":null}`} {
		got, err = model.Decode([]byte(empty))
		require.NoError(t, err, empty)
		assert.Equal(t, &ping{}, got, empty)
	}
}

func TestDecodeErrors(t *testing.T) {
	_, err := model.Decode([]byte(`{"type":"Pong","message":{}}`))
	assert.ErrorIs(t, err, errUnknown)
	assert.ErrorContains(t, err, `"Pong"`)

	_, err = model.Decode([]byte(`not json`))
	assert.ErrorContains(t, err, "decode TEST envelope")

	_, err = model.Decode([]byte(`{"type":"Ping","message":{"id":7}}`))
	var typeErr *json.UnmarshalTypeError
	assert.ErrorAs(t, err, &typeErr)

	_, err = model.Encode(struct{}{})
	assert.ErrorIs(t, err, errUnknown)
}

func TestHandshakeError(t *testing.T) {
	body := wsframe.EncodeHandshakeError("Refused", "no")
	assert.JSONEq(t, `{"Refused":"no"}`, string(body))
	exc, err := model.DecodeHandshakeError(body)
	require.NoError(t, err)
	assert.Equal(t, &refused{Message: "no"}, exc)

	_, err = model.DecodeHandshakeError([]byte(`{"Other":"x"}`))
	assert.ErrorIs(t, err, errUnknown)
	_, err = model.DecodeHandshakeError([]byte(`{"Refused":"a","Other":"b"}`))
	assert.ErrorContains(t, err, "want one key, got 2")
	_, err = model.DecodeHandshakeError([]byte(`<html>`))
	assert.ErrorContains(t, err, "decode TEST handshake error body")
}

func TestShapeNames(t *testing.T) {
	assert.Equal(t, []string{"Ping"}, model.ShapeNames())
}
