package sigv4

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Bounds on what a client may ask the verifier to process. They are
// checked before any work proportional to the request's headers is done,
// and before the secret is looked at, so an access key ID alone cannot make
// the server allocate or hash more than a few times the header size.
const (
	// maxAuthorizationBytes bounds the Authorization header. The SDKs sign
	// a handful of headers; 64 names of 40 characters still fit.
	maxAuthorizationBytes = 4 << 10
	// maxSignedHeaders bounds the SignedHeaders list.
	maxSignedHeaders = 64
	// maxSignedHeaderBytes bounds the names and values of the signed
	// headers together, whatever the HTTP server's own header limit is.
	maxSignedHeaderBytes = 64 << 10
)

// authHeader is the parsed Authorization header.
type authHeader struct {
	accessKeyID   string
	date          string // yyyymmdd from the scope
	region        string
	service       string
	signedHeaders []string // lower case, sorted, unique
	signature     string   // 64 hex digits, lower-cased
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex" and checks its form and bounds.
func parseAuthorization(h string) (authHeader, error) {
	var ah authHeader
	if len(h) > maxAuthorizationBytes {
		return ah, newError(CodeIncompleteSignature,
			fmt.Sprintf("The Authorization header is too long: %d bytes, at most %d are accepted.", len(h), maxAuthorizationBytes))
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return ah, newError(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '"+alg+"'.")
	}
	var credential, signedHeaders string
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			ah.signature = val
		}
	}
	var missing []string
	if credential == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if signedHeaders == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if ah.signature == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if len(missing) > 0 {
		return ah, newError(CodeIncompleteSignature, strings.Join(missing, " "))
	}
	ah.signature = strings.ToLower(ah.signature)
	if !isLowerHex(ah.signature, 64) {
		return ah, newError(CodeIncompleteSignature, "The Signature must be 64 hexadecimal digits.")
	}

	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != terminator {
		return ah, newError(CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+redactKey(credential)+"'")
	}
	ah.accessKeyID, ah.date, ah.region, ah.service = scope[0], scope[1], scope[2], scope[3]

	names, err := parseSignedHeaders(signedHeaders)
	if err != nil {
		return ah, err
	}
	ah.signedHeaders = names
	return ah, nil
}

// parseSignedHeaders splits the list and requires what every SDK sends:
// lower-case names, sorted, each once, and not too many. Duplicates are what
// made the canonical request grow with (names × header size).
func parseSignedHeaders(list string) ([]string, error) {
	if n := strings.Count(list, ";") + 1; n > maxSignedHeaders {
		return nil, newError(CodeIncompleteSignature,
			fmt.Sprintf("SignedHeaders names %d headers; at most %d are accepted.", n, maxSignedHeaders))
	}
	names := strings.Split(list, ";")
	for i, name := range names {
		switch {
		case name == "":
			return nil, newError(CodeIncompleteSignature, "SignedHeaders contains an empty header name.")
		case name != strings.ToLower(name):
			return nil, newError(CodeIncompleteSignature,
				fmt.Sprintf("SignedHeaders must list lower-case header names; got '%s'.", name))
		case i > 0 && name == names[i-1]:
			return nil, newError(CodeIncompleteSignature,
				fmt.Sprintf("SignedHeaders names '%s' more than once.", name))
		case i > 0 && name < names[i-1]:
			return nil, newError(CodeIncompleteSignature,
				fmt.Sprintf("SignedHeaders must be sorted; '%s' comes after '%s'.", name, names[i-1]))
		}
	}
	return names, nil
}

// checkSignedSet refuses a request whose SignedHeaders names a header that
// was not sent, or leaves out one that must be signed: host, content-type,
// x-amz-target and every other x-amz-* header present. A request signed
// over host alone could otherwise be given another operation or body type
// in transit.
func checkSignedSet(r *http.Request, names []string) error {
	for _, name := range names {
		if !headerPresent(r, name) {
			return newError(CodeIncompleteSignature,
				fmt.Sprintf("SignedHeaders names '%s', which is not in the request.", name))
		}
	}
	if _, ok := slices.BinarySearch(names, "host"); !ok {
		return newError(CodeIncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	for key := range r.Header {
		if !strings.EqualFold(key, "content-type") && !(len(key) > 6 && strings.EqualFold(key[:6], "x-amz-")) {
			continue
		}
		name := strings.ToLower(key)
		if _, ok := slices.BinarySearch(names, name); !ok {
			return newError(CodeIncompleteSignature,
				fmt.Sprintf("The request's '%s' header is not signed: host, content-type and every x-amz-* header must be in SignedHeaders.", name))
		}
	}
	return nil
}

// headerPresent reports whether the request carries the header. Go's
// server moves Host and Transfer-Encoding out of r.Header.
func headerPresent(r *http.Request, name string) bool {
	switch name {
	case "host":
		return r.Host != ""
	case "transfer-encoding":
		return len(r.TransferEncoding) > 0
	case "content-length":
		if r.ContentLength > 0 {
			return true
		}
	}
	_, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	return ok
}

// redactKey keeps the scope but not the access key in an error message.
func redactKey(credential string) string {
	if _, rest, ok := strings.Cut(credential, "/"); ok {
		return "<key>/" + rest
	}
	return "<key>"
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
