// Package sigv4 verifies AWS Signature Version 4 header-signed requests on
// the server side, the way an AWS JSON service does, and at least as
// strictly.
//
// Verification has two steps so that a server reads a request's body only
// for a caller that could have signed it:
//
//  1. Preflight looks at the headers alone: the Authorization header's form
//     and bounds, the credential scope (service and region), the request
//     date against a clock-skew window (15 minutes, as AWS), the access key
//     (it must be known) and its session token (compared in constant time),
//     that every header that decides what the request means is signed
//     (host, content-type, every x-amz-* header), and that the payload is
//     signed (UNSIGNED-PAYLOAD is refused). It hashes the header part of the
//     canonical request in one pass, bounded by the request's header size.
//  2. Check.Verify adds the hash of the body that was actually read and
//     compares the signature in constant time.
//
// Only the Authorization header form is supported; presigned query-string
// requests are treated as unauthenticated.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	shortDate     = "20060102"
	terminator    = "aws4_request"

	// UnsignedPayload is the literal payload hash a client may send in
	// X-Amz-Content-Sha256 to leave the body out of the signature. This
	// verifier refuses it: a body swapped in transit would pass.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// DefaultMaxSkew is how far the request date may be from the server's
	// clock, either way.
	DefaultMaxSkew = 15 * time.Minute
)

// Credentials are the secret half of an access key.
type Credentials struct {
	SecretAccessKey string
	SessionToken    string // when set, requests must present it in X-Amz-Security-Token
}

// CredentialsSource looks up credentials by access key ID.
type CredentialsSource interface {
	Lookup(accessKeyID string) (Credentials, bool)
}

// StaticCredentials is a fixed set of credentials keyed by access key ID.
type StaticCredentials map[string]Credentials

// Lookup implements CredentialsSource.
func (s StaticCredentials) Lookup(accessKeyID string) (Credentials, bool) {
	c, ok := s[accessKeyID]
	return c, ok
}

// Verifier checks SigV4 signatures for one service in one region.
type Verifier struct {
	Service     string // signing name, e.g. "ecs"
	Region      string
	Credentials CredentialsSource
	MaxSkew     time.Duration    // zero means DefaultMaxSkew
	Now         func() time.Time // nil means time.Now
}

// Check is a request whose headers passed Preflight; Verify completes it
// with the body. A Check is used once.
type Check struct {
	// AccessKeyID is the key the request claims to be signed with. It is
	// known to the credentials source, but the signature is not verified
	// until Verify returns nil.
	AccessKeyID string

	canonical    hash.Hash // the canonical request up to the payload hash
	declaredHash string    // X-Amz-Content-Sha256, lower-cased, or ""
	amzDate      time.Time
	scope        string
	key          []byte // the derived signing key
	signature    string
}

// Verify checks the signature of r. body is the request payload that was
// read from r.Body (nil or empty for none, e.g. a websocket upgrade). It
// returns the access key ID that signed the request, or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	c, err := v.Preflight(r)
	if err != nil {
		return "", err
	}
	if err := c.Verify(body); err != nil {
		return "", err
	}
	return c.AccessKeyID, nil
}

// Preflight checks everything about r that does not need its body (see the
// package documentation). A server calls it before reading the body, and
// Check.Verify after. The error is an *Error.
func (v *Verifier) Preflight(r *http.Request) (*Check, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, newError(CodeMissingAuthenticationToken, msgMissingToken)
	}
	ah, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	amzDate, err := requestTime(r)
	if err != nil {
		return nil, err
	}
	if ah.date != amzDate.Format(shortDate) {
		return nil, newError(CodeInvalidSignature,
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
				ah.date, amzDate.Format(shortDate), amzDate.Format(amzDateFormat)))
	}
	if ah.service != v.Service {
		return nil, newError(CodeInvalidSignature,
			fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", v.Service))
	}
	if ah.region != v.Region {
		return nil, newError(CodeInvalidSignature,
			fmt.Sprintf("Credential should be scoped to a valid region. This endpoint serves '%s', not '%s'.", v.Region, ah.region))
	}
	if err := v.checkSkew(amzDate); err != nil {
		return nil, err
	}
	creds, ok := v.Credentials.Lookup(ah.accessKeyID)
	if !ok {
		return nil, newError(CodeUnrecognizedClient, msgUnrecognized)
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(creds.SessionToken)) != 1 {
		return nil, newError(CodeUnrecognizedClient, msgUnrecognized)
	}
	if err := checkSignedSet(r, ah.signedHeaders); err != nil {
		return nil, err
	}
	declared := strings.ToLower(r.Header.Get("X-Amz-Content-Sha256"))
	switch {
	case declared == "":
	case strings.EqualFold(declared, UnsignedPayload) || strings.HasPrefix(declared, "streaming-"):
		return nil, newError(CodeInvalidSignature, msgUnsignedPayload)
	case !isLowerHex(declared, 64):
		return nil, newError(CodeInvalidSignature, msgBadPayloadSHA)
	}

	c := &Check{
		AccessKeyID:  ah.accessKeyID,
		canonical:    sha256.New(),
		declaredHash: declared,
		amzDate:      amzDate,
		scope:        strings.Join([]string{ah.date, ah.region, ah.service, terminator}, "/"),
		key:          signingKey(creds.SecretAccessKey, ah.date, ah.region, ah.service),
		signature:    ah.signature,
	}
	if err := writeCanonicalHeaders(c.canonical, r, ah.signedHeaders); err != nil {
		return nil, err
	}
	return c, nil
}

// Verify completes the check with the body that was read from the request
// (nil or empty for none). The payload hash is always that of body; a
// declared X-Amz-Content-Sha256 must match it.
func (c *Check) Verify(body []byte) error {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	if c.declaredHash != "" && c.declaredHash != actual {
		return newError(CodeInvalidSignature, msgBadPayloadSHA)
	}
	c.canonical.Write([]byte(actual))
	stringToSign := strings.Join([]string{
		algorithm,
		c.amzDate.Format(amzDateFormat),
		c.scope,
		hex.EncodeToString(c.canonical.Sum(nil)),
	}, "\n")
	want := hex.EncodeToString(hmacSHA256(c.key, []byte(stringToSign)))
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.signature)) != 1 {
		return newError(CodeInvalidSignature, msgBadSignature)
	}
	return nil
}

func (v *Verifier) checkSkew(t time.Time) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	n := now().UTC()
	mins := int(skew / time.Minute)
	switch {
	case t.Before(n.Add(-skew)):
		return newError(CodeInvalidSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			t.Format(amzDateFormat), n.Add(-skew).Format(amzDateFormat), n.Format(amzDateFormat), mins))
	case t.After(n.Add(skew)):
		return newError(CodeInvalidSignature, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			t.Format(amzDateFormat), n.Add(skew).Format(amzDateFormat), n.Format(amzDateFormat), mins))
	}
	return nil
}

// requestTime reads X-Amz-Date, falling back to Date as SigV4 allows.
func requestTime(r *http.Request) (time.Time, error) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(amzDateFormat, s)
		if err != nil {
			return time.Time{}, newError(CodeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '"+s+"'.")
		}
		return t, nil
	}
	if s := r.Header.Get("Date"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return time.Time{}, newError(CodeIncompleteSignature, "Date must be in ISO-8601 'basic format' or RFC 1123. Got '"+s+"'.")
		}
		return t.UTC(), nil
	}
	return time.Time{}, newError(CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(terminator))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}
