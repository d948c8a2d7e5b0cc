package ec2metadata

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// resolveBound is what one Resolve may allocate: the requests, and each
// response read whole (1 MiB at most per response) and parsed once. The
// metadata mock's answers (seven requests) need under 20 KiB in all.
var resolveBound = fuzzbound.Bound{Fixed: 128 << 10, PerByte: 16}

// regionRE is the shape of an AWS region name.
var regionRE = regexp.MustCompile(`^[a-z]+(-[a-z]+)+-[0-9]+$`)

// imdsAnswer is one canned response.
type imdsAnswer struct {
	status int
	body   string
}

// FuzzResolve feeds instance metadata responses (a status and a body for
// the token and for each path Resolve reads) to Resolve, with a
// configured region or none. A configured region always wins; otherwise
// Resolve finds a region in the document, placement/region or an AWS zone
// name, or fails with ErrNoRegion. The document is kept verbatim, a
// signature only with it, every request after a token was issued carries
// it, and the token never reaches an error or the log.
func FuzzResolve(f *testing.F) {
	f.Fuzz(func(t *testing.T, tokenStatus int, token, tokenTTL string,
		idStatus int, instanceID string, azStatus int, az string, azIDStatus int, azID string,
		docStatus int, doc string, sigStatus int, sig string, regionStatus int, region string,
		configuredRegion string) {
		imds := &cannedIMDS{token: imdsAnswer{tokenStatus, token}, tokenTTL: tokenTTL, paths: map[string]imdsAnswer{
			metadataPrefix + PathInstanceID:         {idStatus, instanceID},
			metadataPrefix + PathAvailabilityZone:   {azStatus, az},
			metadataPrefix + PathAvailabilityZoneID: {azIDStatus, azID},
			metadataPrefix + PathRegion:             {regionStatus, region},
			dynamicPrefix + PathIdentityDocument:    {docStatus, doc},
			dynamicPrefix + PathIdentitySignature:   {sigStatus, sig},
		}}
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		size := len(token) + len(tokenTTL) + len(instanceID) + len(az) + len(azID) + len(doc) + len(sig) + len(region) + len(configuredRegion)

		var id Identity
		var err error
		fuzzbound.Check(t, resolveBound, size, func() {
			c := New(Options{Endpoint: "http://imds.fuzz", HTTPClient: &http.Client{Transport: imds}, Logger: log})
			imds.requests, imds.tokens = nil, nil
			logs.Reset()
			id, err = c.Resolve(context.Background(), configuredRegion, 0)
		})
		checkIdentity(t, imds, id, err, strings.TrimSpace(configuredRegion))
		if tok := strings.TrimSpace(token); len(tok) >= 8 && !strings.Contains(joined(instanceID, az, azID, doc, sig, region, configuredRegion), tok) {
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Fatalf("the error shows the token: %v", err)
			}
			if strings.Contains(logs.String(), tok) {
				t.Fatalf("the log shows the token:\n%s", logs.String())
			}
		}
		for i, sent := range imds.tokens {
			if imds.issued != "" && imds.requests[i] != http.MethodPut && sent != imds.issued {
				t.Fatalf("request %d carries token %q; IMDS issued %q", i, sent, imds.issued)
			}
		}
	})
}

func checkIdentity(t *testing.T, imds *cannedIMDS, id Identity, err error, configured string) {
	t.Helper()
	if configured != "" {
		if err != nil || id.Region != configured {
			t.Fatalf("configured region %q: got %q, %v", configured, id.Region, err)
		}
	} else if err != nil {
		if !errors.Is(err, ErrNoRegion) {
			t.Fatalf("Resolve failed without ErrNoRegion: %v", err)
		}
		return
	} else if id.Region == "" {
		t.Fatal("Resolve succeeded without a region")
	}
	if id.Signature != "" && id.Document == "" {
		t.Fatal("a signature without its document")
	}
	if docAnswer := imds.paths[dynamicPrefix+PathIdentityDocument]; id.Document != "" && id.Document != docAnswer.body {
		t.Fatalf("the document changed: %q != %q", id.Document, docAnswer.body)
	}
	if id.InstanceID != strings.TrimSpace(id.InstanceID) || id.AvailabilityZone != strings.TrimSpace(id.AvailabilityZone) {
		t.Fatalf("identity values keep surrounding space: %+v", id)
	}
	if r := RegionFromAvailabilityZone(id.AvailabilityZone); r != "" {
		if !regionRE.MatchString(r) || !strings.HasPrefix(strings.TrimSpace(id.AvailabilityZone), r) {
			t.Fatalf("zone %q gave region %q", id.AvailabilityZone, r)
		}
	}
}

// joined is the text of the other answers, where the token may appear for
// reasons of its own.
func joined(parts ...string) string { return strings.Join(parts, "\x00") }

// cannedIMDS answers from canned responses and records what it was sent.
type cannedIMDS struct {
	token    imdsAnswer
	tokenTTL string
	paths    map[string]imdsAnswer

	issued   string   // the token a successful PUT returned
	requests []string // methods, in order
	tokens   []string // the token header of each request
}

func (f *cannedIMDS) RoundTrip(r *http.Request) (*http.Response, error) {
	f.requests = append(f.requests, r.Method)
	f.tokens = append(f.tokens, r.Header.Get(headerToken))
	a, hdr := imdsAnswer{http.StatusNotFound, ""}, http.Header{}
	switch {
	case r.Method == http.MethodPut && r.URL.Path == tokenPath:
		a = f.token
		hdr.Set(headerTokenTTL, f.tokenTTL)
		if validStatus(a.status) == http.StatusOK && strings.TrimSpace(a.body) != "" {
			f.issued = strings.TrimSpace(a.body)
		}
	case r.Method == http.MethodGet:
		if p, ok := f.paths[r.URL.Path]; ok {
			a = p
		}
	}
	return &http.Response{StatusCode: validStatus(a.status), Header: hdr, Request: r,
		Body: io.NopCloser(strings.NewReader(a.body))}, nil
}

// validStatus maps any int to an HTTP status net/http could deliver.
func validStatus(s int) int {
	if s < 100 || s > 999 {
		return http.StatusOK
	}
	return s
}
