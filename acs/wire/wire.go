// Package wire holds the ACS (Agent Communication Service) message types and
// the websocket envelope they travel in. It is shared by the agent's ACS client
// (package acs) and the control plane's ACS server, so both sides agree on
// every byte.
//
// Every frame is a text message {"type":"<ShapeName>","message":{...}} whose
// type is the model's shape name. The Go types in types_gen.go are generated
// by internal/wiregen from the ACS model (acs-api-2.json, kept with the
// project's shared protocol documents beside the checkout, not in this
// repository): run `go generate ./acs/wire`, or the go:generate line below
// with -model pointing at the model elsewhere.
package wire

//go:generate go run ../../internal/wiregen -model ../../../shared/protocol/acs-api-2.json -out types_gen.go -service ACS -pointer HeartbeatMessage.healthy -record-unknown Task

import (
	"errors"

	"github.com/open-ecs/ecs-agent/internal/wsframe"
)

// ErrUnknownType is returned (wrapped, with the name) for an envelope type or
// handshake error code that is not in the model. Callers log and drop.
var ErrUnknownType = errors.New("unknown ACS message type")

// Message is implemented by every structure shape of the model. ShapeName is
// the envelope "type".
type Message = wsframe.Message

// Exception is implemented by the model's exception shapes (InvalidClusterException, ...).
type Exception = wsframe.Exception

// model is the ACS model: the generated shapes in the shared envelope.
var model = &wsframe.Model{
	Service:        "ACS",
	Shapes:         newShape,
	Exceptions:     exceptionShapes,
	ErrUnknownType: ErrUnknownType,
}

// Encode wraps msg (a shape value or pointer) in the envelope.
func Encode(msg any) ([]byte, error) { return model.Encode(msg) }

// Decode parses one frame and returns a pointer to the shape named by its type,
// for example *PayloadMessage. An unknown type yields an error wrapping
// ErrUnknownType that names the type; a frame with more JSON objects than
// its size allows, one wrapping ErrTooComplex.
func Decode(frame []byte) (any, error) {
	if err := checkComplexity(frame); err != nil {
		return nil, err
	}
	return model.Decode(frame)
}

// New returns a pointer to a zero value of the named shape.
func New(shapeName string) (Message, error) { return model.New(shapeName) }

// ShapeNames lists every structure shape of the model, for tests and tools.
func ShapeNames() []string { return model.ShapeNames() }

// NewException returns the exception shape named code carrying message, or an
// error wrapping ErrUnknownType.
func NewException(code, message string) (Exception, error) { return model.NewException(code, message) }

// DecodeHandshakeError decodes the unframed body that ACS sends with a failed
// websocket upgrade, a one-key object such as
// {"InvalidClusterException":"Invalid cluster"}. The key selects the exception
// shape and the value becomes its Message. A well-formed body with an unknown
// code yields an error wrapping ErrUnknownType.
func DecodeHandshakeError(body []byte) (Exception, error) { return model.DecodeHandshakeError(body) }

// EncodeHandshakeError is the inverse of DecodeHandshakeError, used by the
// control plane to reject an upgrade.
func EncodeHandshakeError(code, message string) []byte {
	return wsframe.EncodeHandshakeError(code, message)
}
