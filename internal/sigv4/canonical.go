package sigv4

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// writeCanonicalHeaders writes the part of the SigV4 canonical request that
// the headers determine, in one pass, to w (a hash):
//
//	METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n
//
// The payload hash that ends the canonical request is written later, once
// the body was read. names must be sorted and unique (parseSignedHeaders);
// the signed names and values together may not exceed maxSignedHeaderBytes,
// so the work is bounded by the request's own size and never multiplied.
func writeCanonicalHeaders(dst io.Writer, r *http.Request, names []string) error {
	total := 0
	for _, name := range names {
		total += len(name)
		for _, v := range headerValues(r, name) {
			total += len(v)
		}
	}
	if total > maxSignedHeaderBytes {
		return newError(CodeIncompleteSignature,
			fmt.Sprintf("The signed headers are too large: %d bytes, at most %d are accepted.", total, maxSignedHeaderBytes))
	}
	// The hash takes []byte: buffer the many small strings instead of
	// converting each one.
	w := bufio.NewWriterSize(dst, 2048)
	ws := func(s string) { _, _ = w.WriteString(s) }
	ws(r.Method)
	ws("\n")
	ws(canonicalURI(r.URL))
	ws("\n")
	ws(canonicalQuery(r.URL.RawQuery))
	ws("\n")
	for _, name := range names {
		ws(name)
		ws(":")
		for i, v := range headerValues(r, name) {
			if i > 0 {
				ws(",")
			}
			writeTrimmed(w, v)
		}
		ws("\n")
	}
	ws("\n")
	for i, name := range names {
		if i > 0 {
			ws(";")
		}
		ws(name)
	}
	ws("\n")
	return w.Flush()
}

// headerValues returns the values of one header as received. Go's server
// moves some headers out of r.Header; those are read from where it put them.
// The returned slice may alias the request's own: callers must not change it.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		return []string{r.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		return r.TransferEncoding
	}
	return r.Header.Values(name)
}

// writeTrimmed writes s without leading and trailing whitespace and with
// inner runs of spaces collapsed to one, as the SigV4 canonical header rules
// require, without copying it.
func writeTrimmed(w io.Writer, s string) {
	s = strings.TrimSpace(s)
	for {
		i := strings.Index(s, "  ")
		if i < 0 {
			_, _ = io.WriteString(w, s)
			return
		}
		_, _ = io.WriteString(w, s[:i+1])
		s = strings.TrimLeft(s[i+1:], " ")
	}
}

// canonicalURI encodes the path as it came on the wire once more: for every
// service but S3, clients sign the already-escaped path escaped again
// (aws-sdk-go-v2 EscapePath on EscapedPath, botocore quote on the prepared URL).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery decodes every parameter and re-encodes it the AWS way
// (RFC 3986 unreserved characters kept, everything else %XX, space as %20),
// sorted by encoded name, then encoded value. Decoding first makes "+"
// (as Go's url.Values.Encode writes a space) and "%20" sign the same.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type param struct{ k, v string }
	var params []param
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		params = append(params, param{uriEncode(queryUnescape(k), true), uriEncode(queryUnescape(v), true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// queryUnescape decodes a query component; a malformed escape is kept as
// sent (the signature will then simply not match).
func queryUnescape(s string) string {
	d, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return d
}

// uriEncode percent-encodes every byte except the RFC 3986 unreserved
// characters (and '/' unless encodeSlash), with upper-case hex.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}
