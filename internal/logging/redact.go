package logging

import (
	"bytes"
	"context"
	"log/slog"
)

// Redacted replaces the value of every secret attribute.
const Redacted = "<redacted>"

// secretWords are the key fragments that mark an attribute (or a setting) as
// secret. Matching is on the lower-cased key with '-' and '_' removed, so
// "sessionToken", "X-Amz-Security-Token", "ECS_ENGINE_AUTH_DATA" and
// "secret_access_key" all match.
var secretWords = [][]byte{[]byte("secret"), []byte("token"), []byte("password"), []byte("passwd"),
	[]byte("authorization"), []byte("authdata"), []byte("credentials"), []byte("privatekey")}

// IsSecretKey reports whether a log attribute key or setting name looks like it
// names a secret value. It runs for every attribute of every log record, so
// it folds the key into a buffer on the stack rather than building strings.
func IsSecretKey(key string) bool {
	var buf [64]byte
	k := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '-' || c == '_':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		k = append(k, c)
	}
	for _, w := range secretWords {
		if bytes.Contains(k, w) {
			return true
		}
	}
	return false
}

// Redact wraps h so that the values of attributes whose keys look secret (see
// IsSecretKey) are replaced by Redacted, in records, in attributes added with
// Logger.With, and inside groups. It is a safety net: callers should still
// never pass secrets to a logger.
func Redact(h slog.Handler) slog.Handler {
	if _, ok := h.(redactHandler); ok {
		return h
	}
	return redactHandler{next: h}
}

type redactHandler struct{ next slog.Handler }

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		clean.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, clean)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a)
	}
	return redactHandler{next: h.next.WithAttrs(clean)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name)}
}

// redactAttr resolves LogValuers first, so a secret cannot hide behind one.
func redactAttr(a slog.Attr) slog.Attr {
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindGroup {
		return slog.Attr{Key: a.Key, Value: v}
	}
	group := v.Group()
	clean := make([]slog.Attr, len(group))
	for i, g := range group {
		clean[i] = redactAttr(g)
	}
	return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
}
