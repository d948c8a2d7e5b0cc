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
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnknownType is returned (wrapped, with the name) for an envelope type or
// handshake error code that is not in the model. Callers log and drop.
var ErrUnknownType = errors.New("unknown ACS message type")

// Message is implemented by every structure shape of the model. ShapeName is
// the envelope "type".
type Message interface {
	ShapeName() string
}

// Exception is implemented by the model's exception shapes (InvalidClusterException, ...).
type Exception interface {
	error
	ErrorCode() string
}

type envelope struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
}

// Encode wraps msg (a shape value or pointer) in the envelope.
func Encode(msg any) ([]byte, error) {
	m, ok := msg.(Message)
	if !ok {
		return nil, fmt.Errorf("encode %T: %w", msg, ErrUnknownType)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ShapeName(), err)
	}
	return json.Marshal(envelope{Type: m.ShapeName(), Message: body})
}

// Decode parses one frame and returns a pointer to the shape named by its type,
// for example *PayloadMessage. An unknown type yields an error wrapping
// ErrUnknownType that names the type; a frame with more JSON objects than
// its size allows, one wrapping ErrTooComplex.
func Decode(frame []byte) (any, error) {
	if err := checkComplexity(frame); err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	msg, err := New(env.Type)
	if err != nil {
		return nil, err
	}
	if len(env.Message) > 0 && string(env.Message) != "null" {
		if err := json.Unmarshal(env.Message, msg); err != nil {
			return nil, fmt.Errorf("decode %s: %w", env.Type, err)
		}
	}
	return msg, nil
}

// New returns a pointer to a zero value of the named shape.
func New(shapeName string) (Message, error) {
	ctor, ok := newShape[shapeName]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, shapeName)
	}
	return ctor(), nil
}

// ShapeNames lists every structure shape of the model, for tests and tools.
func ShapeNames() []string {
	names := make([]string, 0, len(newShape))
	for n := range newShape {
		names = append(names, n)
	}
	return names
}

// NewException returns the exception shape named code carrying message, or an
// error wrapping ErrUnknownType.
func NewException(code, message string) (Exception, error) {
	ctor, ok := exceptionShapes[code]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, code)
	}
	return ctor(message), nil
}

// DecodeHandshakeError decodes the unframed body that ACS sends with a failed
// websocket upgrade, a one-key object such as
// {"InvalidClusterException":"Invalid cluster"}. The key selects the exception
// shape and the value becomes its Message. A well-formed body with an unknown
// code yields an error wrapping ErrUnknownType.
func DecodeHandshakeError(body []byte) (Exception, error) {
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode handshake error body: %w", err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("decode handshake error body: want one key, got %d", len(m))
	}
	for code, msg := range m {
		return NewException(code, msg)
	}
	panic("unreachable")
}

// EncodeHandshakeError is the inverse of DecodeHandshakeError, used by the
// control plane to reject an upgrade.
func EncodeHandshakeError(code, message string) []byte {
	b, err := json.Marshal(map[string]string{code: message})
	if err != nil { // cannot happen for a map of strings
		panic(err)
	}
	return b
}
