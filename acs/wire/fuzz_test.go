package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
	"github.com/open-ecs/ecs-agent/internal/wsframe"
)

// decodeBound is what decoding one frame may allocate. The real frames of
// the seed corpus (payloads the control plane sent, heartbeats, acks, the
// reference's examples) need under 1 KiB plus at most 18 bytes per frame
// byte: a task or container becomes a struct of about 450 bytes, and the
// unknown-member check reads each task once more. A frame may hold one
// object or null per 32 bytes, plus 64 (ErrTooComplex), and an empty
// object in a list of tasks costs up to 2.7 KiB to decode (the list grows
// by copying), so no frame needs more than 128 KiB plus 96 bytes per byte.
var decodeBound = fuzzbound.Bound{Fixed: 128 << 10, PerByte: 96}

// FuzzDecode feeds frames to Decode, the decoder of every ACS frame on
// both sides: the agent reads what ACS sends, the control plane what
// agents send. A frame decodes into the shape its type names, or fails
// with a documented error; what decodes encodes again into a frame that
// decodes to the same thing, and a task re-encoded from its shape has no
// unknown members.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		var msg any
		var err error
		fuzzbound.Check(t, decodeBound, len(frame), func() { msg, err = Decode(frame) })
		if err != nil {
			if !isDecodeError(err) {
				t.Fatalf("Decode: %T %v is neither ErrUnknownType, ErrTooComplex nor a JSON error", err, err)
			}
			return
		}
		var env wsframe.Envelope
		if json.Unmarshal(frame, &env) != nil {
			t.Fatal("Decode accepted a frame that is not a JSON envelope")
		}
		m, ok := msg.(Message)
		if !ok || m.ShapeName() != env.Type {
			t.Fatalf("type %q decoded into %T", env.Type, msg)
		}
		once := mustEncode(t, msg)
		again, err := Decode(once)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", once, err)
		}
		if twice := mustEncode(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the frame:\n%s\n%s", once, twice)
		}
		if p, ok := again.(*PayloadMessage); ok {
			for i, task := range p.Tasks {
				if len(task.UnknownMembers) > 0 {
					t.Fatalf("tasks[%d] re-encoded from its shape has unknown members %v", i, task.UnknownMembers)
				}
			}
		}
	})
}

// FuzzDecodeHandshakeError feeds bodies to DecodeHandshakeError, which the
// agent runs on the answer to a refused websocket upgrade. A body decodes
// into the exception its one key names, or fails; what decodes encodes back
// into the same code and message.
func FuzzDecodeHandshakeError(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var exc Exception
		var err error
		fuzzbound.Check(t, decodeBound, len(body), func() { exc, err = DecodeHandshakeError(body) })
		if err != nil {
			return
		}
		var m map[string]string
		if json.Unmarshal(body, &m) != nil || len(m) != 1 {
			t.Fatalf("accepted %q, which is not a one-key object of strings", body)
		}
		for code, message := range m {
			if exc.ErrorCode() != code {
				t.Fatalf("code %q decoded as %q", code, exc.ErrorCode())
			}
			again, err := DecodeHandshakeError(EncodeHandshakeError(exc.ErrorCode(), message))
			if err != nil || again.ErrorCode() != code || again.Error() != exc.Error() {
				t.Fatalf("round trip of %q: %v, %v", body, again, err)
			}
		}
	})
}

func mustEncode(t *testing.T, msg any) []byte {
	t.Helper()
	b, err := Encode(msg)
	if err != nil {
		t.Fatalf("Encode(%T): %v", msg, err)
	}
	return b
}

// isDecodeError reports whether err is one of the errors Decode documents:
// an unknown type, a frame too complex to decode, or malformed JSON.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.Is(err, ErrUnknownType) || errors.Is(err, ErrTooComplex) || errors.As(err, &syntax) || errors.As(err, &typ)
}
