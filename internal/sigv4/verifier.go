// Package sigv4 verifies AWS Signature Version 4 header-signed requests on
// the server side, the way an AWS JSON service does.
//
// The verifier recomputes the canonical request from what arrived on the
// wire (method, escaped path, query, the headers named in SignedHeaders and
// the payload hash), derives the signing key from the secret looked up by
// access key, and compares signatures in constant time. It checks the
// credential scope (service and region), the request date against a clock
// skew window (15 minutes, as AWS does) and the session token when the
// credentials carry one.
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
	// X-Amz-Content-Sha256 to leave the body out of the signature.
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

// authHeader is the parsed Authorization header.
type authHeader struct {
	accessKeyID   string
	date          string // yyyymmdd from the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// Verify checks the signature of r. body is the request payload that was
// read from r.Body (nil or empty for none, e.g. a websocket upgrade). It
// returns the access key ID that signed the request, or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return "", newError(CodeMissingAuthenticationToken, msgMissingToken)
	}
	ah, err := parseAuthorization(authz)
	if err != nil {
		return "", err
	}

	amzDate, err := requestTime(r)
	if err != nil {
		return "", err
	}
	if ah.date != amzDate.Format(shortDate) {
		return "", newError(CodeInvalidSignature,
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
				ah.date, amzDate.Format(shortDate), amzDate.Format(amzDateFormat)))
	}
	if ah.service != v.Service {
		return "", newError(CodeInvalidSignature,
			fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", v.Service))
	}
	if ah.region != v.Region {
		return "", newError(CodeInvalidSignature,
			fmt.Sprintf("Credential should be scoped to a valid region. This endpoint serves '%s', not '%s'.", v.Region, ah.region))
	}
	if err := v.checkSkew(amzDate); err != nil {
		return "", err
	}

	creds, ok := v.Credentials.Lookup(ah.accessKeyID)
	if !ok {
		return "", newError(CodeUnrecognizedClient, msgUnrecognized)
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if token != creds.SessionToken {
		return "", newError(CodeUnrecognizedClient, msgUnrecognized)
	}

	payloadHash, err := payloadHash(r, body)
	if err != nil {
		return "", err
	}
	canonical := canonicalRequest(r, ah.signedHeaders, payloadHash)
	scope := strings.Join([]string{ah.date, ah.region, ah.service, terminator}, "/")
	canonicalSum := sha256.Sum256([]byte(canonical))
	stringToSign := strings.Join([]string{
		algorithm,
		amzDate.Format(amzDateFormat),
		scope,
		hex.EncodeToString(canonicalSum[:]),
	}, "\n")

	key := signingKey(creds.SecretAccessKey, ah.date, ah.region, ah.service)
	want := hex.EncodeToString(hmacSHA256(key, []byte(stringToSign)))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(ah.signature))) != 1 {
		return "", newError(CodeInvalidSignature, msgBadSignature)
	}
	return ah.accessKeyID, nil
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

// payloadHash returns the hash that goes into the canonical request. A
// client-supplied X-Amz-Content-Sha256 is used as sent, but unless it is
// UNSIGNED-PAYLOAD it must match the body we actually received.
func payloadHash(r *http.Request, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	declared := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case declared == "":
		return actual, nil
	case declared == UnsignedPayload:
		return declared, nil
	case !strings.EqualFold(declared, actual):
		return "", newError(CodeInvalidSignature, msgBadPayloadSHA)
	}
	return declared, nil
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authHeader, error) {
	var ah authHeader
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

	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != terminator {
		return ah, newError(CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+redactKey(credential)+"'")
	}
	ah.accessKeyID, ah.date, ah.region, ah.service = scope[0], scope[1], scope[2], scope[3]

	ah.signedHeaders = strings.Split(signedHeaders, ";")
	hasHost := false
	for _, name := range ah.signedHeaders {
		if name == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return ah, newError(CodeIncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return ah, nil
}

// redactKey keeps the scope but not the access key in an error message.
func redactKey(credential string) string {
	if _, rest, ok := strings.Cut(credential, "/"); ok {
		return "<key>/" + rest
	}
	return "<key>"
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
