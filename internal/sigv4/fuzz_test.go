package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// The keys and the time of the seed corpus: requests the aws CLI and the
// agent signed in a real run against a control plane with these keys.
const (
	fuzzAdminKey    = "AKIAFUZZSEEDADMIN01"
	fuzzAdminSecret = "fuzzseedAdminSecretKey0123456789abcdefgh"
	fuzzAgentKey    = "AKIAFUZZSEEDAGENT01"
	fuzzAgentSecret = "fuzzseedAgentSecretKey0123456789abcdefgh"
	fuzzTokenKey    = "ASIAFUZZSEEDTOKEN01"
	fuzzToken       = "fuzz-seed-session-token"
)

var fuzzNow = time.Date(2026, 12, 1, 5, 19, 0, 0, time.UTC)

// verifyBound is what verifying one request may allocate. Preflight
// bounds its work by the signed headers (64 KiB at most) and hashes them
// in one pass; the body is hashed, not copied. The requests of the seed
// corpus need under 9 KiB. The path is the exception: the canonical
// request holds it escaped twice, as the SDKs sign it, built as strings,
// so each byte of a path of quotes or spaces costs up to 20.
var verifyBound = fuzzbound.Bound{Fixed: 32 << 10, PerByte: 32}

// FuzzVerify feeds raw HTTP requests to the verifier, as received (the
// seeds are requests the aws CLI and the agent signed), or, with resign,
// signed again by the AWS SDK's signer. Every refusal is an *Error with a
// 4xx status that does not show a secret; a request that verifies stops
// verifying when a byte of its body changes; and a request the SDK signed
// is never refused for a signature mismatch: the verifier computes what
// the SDK computes, and refuses only what its policy names.
func FuzzVerify(f *testing.F) {
	v := &Verifier{
		Service: "ecs",
		Region:  "us-east-1",
		Credentials: StaticCredentials{
			fuzzAdminKey: {SecretAccessKey: fuzzAdminSecret},
			fuzzAgentKey: {SecretAccessKey: fuzzAgentSecret},
			fuzzTokenKey: {SecretAccessKey: fuzzAgentSecret, SessionToken: fuzzToken},
		},
		Now: func() time.Time { return fuzzNow },
	}
	f.Fuzz(func(t *testing.T, raw []byte, resign bool) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http would not have served it
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if resign && !sdkSign(r, body) {
			return
		}
		var key string
		fuzzbound.Check(t, verifyBound, len(raw), func() { key, err = v.Verify(r, body) })
		if err != nil {
			checkRefusal(t, err, raw)
			if resign {
				if e := err.(*Error); e.Message == msgBadSignature {
					t.Fatalf("a request the SDK signed does not verify:\n%s", dump(r, body))
				}
			}
			return
		}
		if _, ok := v.Credentials.Lookup(key); !ok {
			t.Fatalf("verified with the unknown key %q", key)
		}
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[len(changed)/2] ^= 1
			if _, err := v.Verify(r, changed); err == nil {
				t.Fatalf("a request verifies with a changed body:\n%s", dump(r, body))
			}
		}
	})
}

// sdkSign replaces r's signature by the AWS SDK's, with the agent key and
// the session-token key alternately, as an SDK client would send it. It
// reports false for a request the SDK cannot sign.
func sdkSign(r *http.Request, body []byte) bool {
	r.Header.Del("Authorization")
	if _, ok := r.Header["Content-Length"]; ok {
		// The SDK signs the length it will send, which a client writes
		// without leading zeros; net/http accepts "01" as 1.
		r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	creds := aws.Credentials{AccessKeyID: fuzzAgentKey, SecretAccessKey: fuzzAgentSecret}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		creds = aws.Credentials{AccessKeyID: fuzzTokenKey, SecretAccessKey: fuzzAgentSecret, SessionToken: fuzzToken}
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "ecs", "us-east-1", fuzzNow) == nil
}

// checkRefusal requires the documented error: an *Error with a known code,
// a 400 or 403 status, a message, and no secret in it that the request
// did not hold itself.
func checkRefusal(t *testing.T, err error, raw []byte) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Verify: %T %v is not an *Error", err, err)
	}
	switch e.Code {
	case CodeMissingAuthenticationToken, CodeUnrecognizedClient, CodeInvalidSignature, CodeIncompleteSignature:
	default:
		t.Fatalf("unknown code %q", e.Code)
	}
	if (e.Status != http.StatusBadRequest && e.Status != http.StatusForbidden) || e.Message == "" {
		t.Fatalf("%v: status %d, or no message", e, e.Status)
	}
	for _, secret := range []string{fuzzAdminSecret, fuzzAgentSecret, fuzzToken} {
		if strings.Contains(e.Message, secret) && !bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the error shows a secret: %v", e)
		}
	}
}

func dump(r *http.Request, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.RequestURI() + "\nHost: " + r.Host + "\n")
	_ = r.Header.Write(&b)
	b.WriteString("\n")
	b.Write(body)
	return b.String()
}
