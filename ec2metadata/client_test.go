package ec2metadata

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/ec2metadata/imdstest"
)

// fakeIMDS is a small, stateful metadata service for edge cases the AWS mock
// cannot produce: revoked tokens, a service that changes its mind about
// IMDSv2, a token PUT that never answers, transient 5xx.
type fakeIMDS struct {
	mu          sync.Mutex
	values      map[string]string // full path -> body; missing = 404
	v2Only      bool
	tokenStatus int  // non-zero: answer the token PUT with it
	blockToken  bool // the token PUT never answers
	blockAll    bool // nothing answers
	failGETs    int  // answer this many GETs with 500 first
	forbidGETs  bool // answer every GET with 403
	tokens      map[string]bool
	tokenPuts   int
	tokenTTLs   []string
	requests    int
	next        int
}

func newFake(t *testing.T) (*fakeIMDS, *httptest.Server) {
	f := &fakeIMDS{
		tokens: map[string]bool{},
		values: map[string]string{
			"/latest/meta-data/instance-id":                    "i-0123",
			"/latest/meta-data/placement/region":               "eu-north-1",
			"/latest/meta-data/placement/availability-zone":    "eu-north-1c",
			"/latest/meta-data/placement/availability-zone-id": "eun1-az3",
			"/latest/dynamic/instance-identity/document":       `{"instanceId":"i-0123","region":"eu-north-1"}`,
			"/latest/dynamic/instance-identity/signature":      "c2lnbmF0dXJl",
		},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	blockAll, blockToken := f.blockAll, f.blockToken
	f.mu.Unlock()
	if blockAll || (blockToken && r.Method == http.MethodPut) {
		<-r.Context().Done()
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPut && r.URL.Path == tokenPath {
		f.tokenPuts++
		f.tokenTTLs = append(f.tokenTTLs, r.Header.Get(headerTokenTTL))
		if f.tokenStatus != 0 {
			w.WriteHeader(f.tokenStatus)
			return
		}
		f.next++
		tok := "token-" + strconv.Itoa(f.next)
		f.tokens[tok] = true
		w.Header().Set(headerTokenTTL, r.Header.Get(headerTokenTTL))
		_, _ = w.Write([]byte(tok))
		return
	}
	tok := r.Header.Get(headerToken)
	switch {
	case tok != "" && !f.tokens[tok], tok == "" && f.v2Only:
		w.WriteHeader(http.StatusUnauthorized)
	case f.forbidGETs:
		w.WriteHeader(http.StatusForbidden)
	case f.failGETs > 0:
		f.failGETs--
		w.WriteHeader(http.StatusInternalServerError)
	default:
		v, ok := f.values[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(v))
	}
}

func (f *fakeIMDS) set(fn func(f *fakeIMDS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeIMDS) puts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenPuts
}

func logBuffer() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testWait = 10 * time.Second

func TestRegionFromAvailabilityZone(t *testing.T) {
	for az, want := range map[string]string{
		"us-west-2a":              "us-west-2",
		"eu-central-1b":           "eu-central-1",
		"us-gov-west-1a":          "us-gov-west-1",
		"cn-northwest-1c":         "cn-northwest-1",
		"us-west-2-lax-1a":        "us-west-2",
		"us-east-1-wl1-bos-wlz-1": "us-east-1",
		"us-isob-east-1a":         "us-isob-east-1",
		" ap-south-1a\n":          "ap-south-1",
		"nova":                    "",
		"nova-1a":                 "",
		"":                        "",
		"zone-A-1":                "",
		"us-west":                 "",
	} {
		assert.Equal(t, want, RegionFromAvailabilityZone(az), az)
	}
}

func TestResolveUnreachable(t *testing.T) {
	endpoint := imdstest.ClosedEndpoint(t)

	t.Run("without a configured region", func(t *testing.T) {
		c := New(Options{Endpoint: endpoint})
		_, err := c.Resolve(t.Context(), "", 300*time.Millisecond)
		require.ErrorIs(t, err, ErrNoRegion)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "no region: the EC2 instance metadata service is unreachable at "+endpoint+
			"; set AWS_DEFAULT_REGION in /etc/ecs/ecs.config or the environment")
	})

	t.Run("with a configured region", func(t *testing.T) {
		log, buf := logBuffer()
		c := New(Options{Endpoint: endpoint, Logger: log})
		id, err := c.Resolve(t.Context(), " us-west-2 ", 300*time.Millisecond)
		require.NoError(t, err)
		assert.Equal(t, Identity{Region: "us-west-2"}, id)
		assert.Contains(t, buf.String(), "level=WARN")
		assert.Contains(t, buf.String(), "unavailable")
	})
}

func TestResolveBlackholed(t *testing.T) {
	// Packets dropped: the budget ends while a request is in flight, and the
	// result still reads as "unreachable".
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.blockAll = true })
	c := New(Options{Endpoint: srv.URL})
	_, err := c.Resolve(t.Context(), "", 200*time.Millisecond)
	require.ErrorIs(t, err, ErrNoRegion)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Contains(t, err.Error(), "unreachable")
}

func TestResolveDisabled(t *testing.T) {
	f, srv := newFake(t)
	t.Setenv(EnvDisabled, "true")
	c := New(Options{Endpoint: srv.URL})

	_, err := c.Resolve(t.Context(), "", testWait)
	require.ErrorIs(t, err, ErrNoRegion)
	assert.Contains(t, err.Error(), "AWS_EC2_METADATA_DISABLED")
	assert.Contains(t, err.Error(), "AWS_DEFAULT_REGION")

	id, err := c.Resolve(t.Context(), "us-east-2", testWait)
	require.NoError(t, err)
	assert.Equal(t, Identity{Region: "us-east-2"}, id)

	_, err = c.GetMetadata(t.Context(), PathInstanceID)
	require.ErrorIs(t, err, ErrUnavailable)
	f.set(func(f *fakeIMDS) { assert.Zero(t, f.requests, "a disabled client sends nothing") })
}

func TestResolveFullIdentity(t *testing.T) {
	_, srv := newFake(t)
	id, err := New(Options{Endpoint: srv.URL + "/"}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, Identity{
		InstanceID:         "i-0123",
		Region:             "eu-north-1",
		AvailabilityZone:   "eu-north-1c",
		AvailabilityZoneID: "eun1-az3",
		Document:           `{"instanceId":"i-0123","region":"eu-north-1"}`,
		Signature:          "c2lnbmF0dXJl",
	}, id)
}

func TestTokenCachedAndRefetchedOn401(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.v2Only = true })
	c := New(Options{Endpoint: srv.URL})

	for range 3 {
		_, err := c.GetMetadata(t.Context(), PathInstanceID)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.puts())

	// The service forgets its tokens (a restart): one 401, one new token.
	f.set(func(f *fakeIMDS) { clear(f.tokens) })
	v, err := c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	assert.Equal(t, "i-0123", v)
	assert.Equal(t, 2, f.puts())
	f.set(func(f *fakeIMDS) { assert.Equal(t, []string{"21600", "21600"}, f.tokenTTLs) })
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	f, srv := newFake(t)
	c := New(Options{Endpoint: srv.URL})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }

	_, err := c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	now = now.Add(defaultTokenTTL - 2*maxTokenRefreshMargin)
	_, err = c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	assert.Equal(t, 1, f.puts(), "still well within the TTL")

	now = now.Add(maxTokenRefreshMargin + time.Second)
	_, err = c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	assert.Equal(t, 2, f.puts(), "refreshed inside the margin before expiry")
}

func TestFallbackToV1AndBack(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.tokenStatus = http.StatusMethodNotAllowed })
	log, buf := logBuffer()
	c := New(Options{Endpoint: srv.URL, Logger: log})

	for range 2 {
		_, err := c.GetMetadata(t.Context(), PathInstanceID)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.puts(), "the IMDSv1 fallback is remembered")
	assert.Contains(t, buf.String(), "falling back to IMDSv1")

	// The service now requires tokens: the 401 switches the client back.
	f.set(func(f *fakeIMDS) { f.tokenStatus, f.v2Only = 0, true })
	v, err := c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	assert.Equal(t, "i-0123", v)
	assert.Equal(t, 2, f.puts())
}

func TestTokenBadRequestIsNotAFallback(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.tokenStatus = http.StatusBadRequest })
	_, err := New(Options{Endpoint: srv.URL}).GetMetadata(t.Context(), PathInstanceID)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadRequest, se.StatusCode)
	assert.Equal(t, http.MethodPut, se.Method)
}

func TestTokenTimeoutFallsBackToV1(t *testing.T) {
	// What a PUT response hop limit of 1 looks like from a container.
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.blockToken = true })
	c := New(Options{Endpoint: srv.URL, RequestTimeout: 100 * time.Millisecond})

	v, err := c.GetMetadata(t.Context(), PathInstanceID)
	require.NoError(t, err)
	assert.Equal(t, "i-0123", v)
	_, err = c.GetMetadata(t.Context(), PathAvailabilityZone)
	require.NoError(t, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.True(t, c.v1)
}

func TestResolveRetriesServerErrors(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.failGETs = 3 })
	id, err := New(Options{Endpoint: srv.URL}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, "eu-north-1", id.Region)
	assert.Equal(t, "i-0123", id.InstanceID)
}

func TestResolveForbidden(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.forbidGETs = true })
	c := New(Options{Endpoint: srv.URL})

	id, err := c.Resolve(t.Context(), "us-west-1", testWait)
	require.NoError(t, err)
	assert.Equal(t, Identity{Region: "us-west-1"}, id)

	_, err = c.Resolve(t.Context(), "", testWait)
	require.ErrorIs(t, err, ErrNoRegion)
	assert.False(t, errors.Is(err, ErrUnavailable))
	assert.Contains(t, err.Error(), "failed")
	assert.Contains(t, err.Error(), "AWS_DEFAULT_REGION")
}

func TestResolveInvalidDocumentSentAsIs(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.values["/latest/dynamic/instance-identity/document"] = "not json" })
	id, err := New(Options{Endpoint: srv.URL}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, "not json", id.Document)
	assert.Equal(t, "eu-north-1", id.Region, "from placement/region")
}

// An empty document is no document: neither it nor a signature is sent.
func TestResolveEmptyDocument(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { f.values["/latest/dynamic/instance-identity/document"] = " \n" })
	id, err := New(Options{Endpoint: srv.URL}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Empty(t, id.Document)
	assert.Empty(t, id.Signature)
	assert.Equal(t, "eu-north-1", id.Region, "from placement/region")
}

func TestResolveDocumentWithoutSignature(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) { delete(f.values, "/latest/dynamic/instance-identity/signature") })
	id, err := New(Options{Endpoint: srv.URL}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.NotEmpty(t, id.Document)
	assert.Empty(t, id.Signature)
}

func TestResolveFillsGapsFromDocument(t *testing.T) {
	f, srv := newFake(t)
	f.set(func(f *fakeIMDS) {
		delete(f.values, "/latest/meta-data/instance-id")
		delete(f.values, "/latest/meta-data/placement/availability-zone")
		f.values["/latest/dynamic/instance-identity/document"] = `{"instanceId":"i-9","region":"sa-east-1","availabilityZone":"sa-east-1a"}`
	})
	id, err := New(Options{Endpoint: srv.URL}).Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, "i-9", id.InstanceID)
	assert.Equal(t, "sa-east-1", id.Region)
	assert.Equal(t, "sa-east-1a", id.AvailabilityZone)
}

func TestRegion(t *testing.T) {
	f, srv := newFake(t)
	c := New(Options{Endpoint: srv.URL})
	f.set(func(f *fakeIMDS) {
		delete(f.values, "/latest/dynamic/instance-identity/document")
		delete(f.values, "/latest/meta-data/placement/region")
	})
	region, err := c.Region(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "eu-north-1", region, "derived from the zone")

	f.set(func(f *fakeIMDS) { f.values["/latest/meta-data/placement/availability-zone"] = "nova" })
	_, err = c.Region(t.Context())
	require.ErrorIs(t, err, ErrNotFound)
}

func TestEndpointSelection(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	t.Setenv(EnvEndpointMode, "")
	assert.Equal(t, DefaultEndpoint, New(Options{}).Endpoint())

	t.Setenv(EnvEndpointMode, "IPv6")
	assert.Equal(t, "http://[fd00:ec2::254]", New(Options{}).Endpoint())

	t.Setenv(EnvEndpoint, "http://127.0.0.1:1338/")
	assert.Equal(t, "http://127.0.0.1:1338", New(Options{}).Endpoint())

	assert.Equal(t, "http://127.0.0.2:9", New(Options{Endpoint: "http://127.0.0.2:9"}).Endpoint(), "an explicit endpoint wins")
}

func TestStatusErrorIsNotFound(t *testing.T) {
	err := error(&StatusError{Method: http.MethodGet, Path: "/x", StatusCode: http.StatusNotFound})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.False(t, errors.Is(&StatusError{StatusCode: http.StatusForbidden}, ErrNotFound))
	assert.True(t, strings.Contains(err.Error(), "404"))
}
