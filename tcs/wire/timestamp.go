package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timestamp is the model's timestamp shape. The AWS JSON protocol, which the
// incumbent agent's serializer follows, writes it as epoch seconds with up to
// millisecond precision (1700000000.123), not as encoding/json's RFC 3339
// string; TCS reads that number. The zero Timestamp is omitted (omitzero).
type Timestamp struct {
	time.Time
}

// At returns t as a Timestamp: in UTC, rounded down to the millisecond the
// wire keeps, so that a decoded Timestamp equals the one encoded.
func At(t time.Time) Timestamp {
	return Timestamp{t.Truncate(time.Millisecond).UTC()}
}

// MarshalJSON writes epoch seconds, with a fraction only when there are
// milliseconds.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1e3, 'f', -1, 64), nil
}

// UnmarshalJSON reads epoch seconds (integer or fractional). A string is
// refused with the format the field must have.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("timestamp %s: want epoch seconds as a JSON number (1700000000.123): %w", b, err)
	}
	*t = Timestamp{time.UnixMilli(int64(math.Round(f * 1e3))).UTC()}
	return nil
}
