// Package wsframe is the envelope ACS and TCS messages travel in, a text
// frame {"type":"<ShapeName>","message":{...}}, and the unframed one-key
// body {"<ExceptionName>":"<message>"} both send with a rejected websocket
// upgrade. A Model holds one protocol's shapes; the protocol's wire package
// (acs/wire, tcs/wire) fills it from its generated types and keeps what is
// its own (ACS's complexity limit, TCS's signed frames).
package wsframe

import (
	"encoding/json"
	"fmt"
)

// Message is implemented by every structure shape of a model. ShapeName is
// the envelope "type".
type Message interface {
	ShapeName() string
}

// Exception is implemented by a model's exception shapes.
type Exception interface {
	error
	ErrorCode() string
}

// Model is one protocol's shapes, as internal/wiregen generates them.
type Model struct {
	// Service names the protocol ("ACS", "TCS") in errors.
	Service string
	// Shapes maps every structure shape name to a constructor of its Go type.
	Shapes map[string]func() Message
	// Exceptions maps the exception shape names to constructors.
	Exceptions map[string]func(message string) Exception
	// ErrUnknownType is wrapped, with the name, for a type or exception
	// code that is not in Shapes or Exceptions.
	ErrUnknownType error
}

// Envelope is the JSON of one frame.
type Envelope struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
}

// Encode wraps msg (a shape value or pointer) in the envelope.
func (m *Model) Encode(msg any) ([]byte, error) {
	shape, ok := msg.(Message)
	if !ok {
		return nil, fmt.Errorf("encode %T: %w", msg, m.ErrUnknownType)
	}
	body, err := json.Marshal(shape)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", shape.ShapeName(), err)
	}
	return json.Marshal(Envelope{Type: shape.ShapeName(), Message: body})
}

// Decode parses one envelope and returns a pointer to the shape named by its
// type. An unknown type yields an error wrapping ErrUnknownType that names
// the type; an absent or null message, the zero shape.
func (m *Model) Decode(envelopeJSON []byte) (any, error) {
	var env Envelope
	if err := json.Unmarshal(envelopeJSON, &env); err != nil {
		return nil, fmt.Errorf("decode %s envelope: %w", m.Service, err)
	}
	msg, err := m.New(env.Type)
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
func (m *Model) New(shapeName string) (Message, error) {
	ctor, ok := m.Shapes[shapeName]
	if !ok {
		return nil, fmt.Errorf("%w %q", m.ErrUnknownType, shapeName)
	}
	return ctor(), nil
}

// ShapeNames lists every structure shape of the model, in no order.
func (m *Model) ShapeNames() []string {
	names := make([]string, 0, len(m.Shapes))
	for n := range m.Shapes {
		names = append(names, n)
	}
	return names
}

// NewException returns the exception shape named code carrying message, or
// an error wrapping ErrUnknownType.
func (m *Model) NewException(code, message string) (Exception, error) {
	ctor, ok := m.Exceptions[code]
	if !ok {
		return nil, fmt.Errorf("%w %q", m.ErrUnknownType, code)
	}
	return ctor(message), nil
}

// DecodeHandshakeError decodes the unframed body sent with a failed
// websocket upgrade, a one-key object such as
// {"InvalidClusterException":"Invalid cluster"}. The key selects the
// exception shape and the value becomes its Message. A well-formed body with
// an unknown code yields an error wrapping ErrUnknownType.
func (m *Model) DecodeHandshakeError(body []byte) (Exception, error) {
	var codes map[string]string
	if err := json.Unmarshal(body, &codes); err != nil {
		return nil, fmt.Errorf("decode %s handshake error body: %w", m.Service, err)
	}
	if len(codes) != 1 {
		return nil, fmt.Errorf("decode %s handshake error body: want one key, got %d", m.Service, len(codes))
	}
	for code, msg := range codes {
		return m.NewException(code, msg)
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
