package wire

import (
	"errors"
	"fmt"
)

// ErrTooComplex is returned (wrapped) for a frame with more JSON objects
// and nulls than its size justifies. Each object or null in a list of
// shapes decodes into a struct of up to about 500 bytes (a Task, a
// Container), so a frame of empty objects ("[{},{},...]") would take
// hundreds of bytes of memory per byte it holds: a gigabyte for a frame
// of the size ACS may send. Real messages hold about one object per 60
// bytes or more.
var ErrTooComplex = errors.New("ACS frame has more JSON objects than its size allows")

// maxStructs is how many objects and nulls a frame of n bytes may hold:
// one per 32 bytes, and a few for the smallest frames. Decoding such a
// frame takes at most a few times the memory a real frame of its size
// does.
func maxStructs(n int) int { return 64 + n/32 }

// checkComplexity refuses a frame with more than maxStructs objects and
// nulls, counted outside strings in one pass, before anything is decoded.
func checkComplexity(frame []byte) error {
	limit := maxStructs(len(frame))
	n, inString, escaped := 0, false, false
	for i := 0; i < len(frame); i++ {
		c := frame[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
			continue
		case c == '{':
			n++
		case c == 'n' && i+4 <= len(frame) && string(frame[i:i+4]) == "null":
			n++
			i += 3
		default:
			continue
		}
		if n > limit {
			return fmt.Errorf("%w: more than %d JSON objects and nulls in %d bytes", ErrTooComplex, limit, len(frame))
		}
	}
	return nil
}
