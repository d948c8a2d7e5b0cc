package agent

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPollEndpointsCache(t *testing.T) {
	stub := newECSStub(t)
	p := newPollEndpoints(testECSClient(t, stub.URL()), "default", "arn:ci", discard)
	now := time.Unix(1_700_000_000, 0)
	p.now = func() time.Time { return now }

	ep, err := p.ACS(t.Context())
	require.NoError(t, err)
	assert.Equal(t, stub.URL(), ep)
	assert.Equal(t, stub.URL()+"/tcs", p.telemetry)
	assert.Equal(t, 1, stub.dpeCalls())

	// A connection succeeded: the next reconnect reuses the answer.
	p.Connected()
	_, err = p.ACS(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, stub.dpeCalls())

	// That connection attempt failed (no Connected): ask again.
	_, err = p.ACS(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, stub.dpeCalls())

	// After 12 h the answer expires even while connections succeed.
	p.Connected()
	now = now.Add(pollEndpointTTL)
	_, err = p.ACS(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, stub.dpeCalls())
}

func TestPollEndpointsFallsBackToCache(t *testing.T) {
	stub := newECSStub(t)
	p := newPollEndpoints(testECSClient(t, stub.URL()), "default", "arn:ci", discard)

	stub.set(func(s *ecsStub) { s.dpeErr = &stubError{http.StatusInternalServerError, "ServerException"} })
	_, err := p.ACS(t.Context())
	require.Error(t, err, "nothing cached yet")

	stub.set(func(s *ecsStub) { s.dpeErr = nil })
	ep, err := p.ACS(t.Context())
	require.NoError(t, err)

	stub.set(func(s *ecsStub) { s.dpeErr = &stubError{http.StatusInternalServerError, "ServerException"} })
	got, err := p.ACS(t.Context())
	require.NoError(t, err, "a failed refresh falls back to the cached endpoint")
	assert.Equal(t, ep, got)
	assert.Equal(t, 3, stub.dpeCalls())
}
