package acs

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/internal/wsconn"
	"github.com/open-ecs/ecs-agent/internal/wsconn/wsconntest"
)

// The session tests speak over wsconntest's in-memory websocket pair.
type (
	memConn = wsconntest.MemSocket
	wsConn  = wsconn.Socket
)

func memPair() (*memConn, *memConn) { return wsconntest.Pair() }

// dialAttempt records one call of the fake dialer.
type dialAttempt struct {
	url    string
	header http.Header
	at     time.Time
}

// fakeACS is a scripted dialer: each attempt takes the next result from
// results (nil means accept and hand the server end to accepted).
type fakeACS struct {
	mu       sync.Mutex
	attempts []dialAttempt
	results  []error
	accepted chan *memConn
}

func newFakeACS(results ...error) *fakeACS {
	return &fakeACS{results: results, accepted: make(chan *memConn, 16)}
}

func (f *fakeACS) dial(_ context.Context, url string, h http.Header) (wsConn, error) {
	f.mu.Lock()
	f.attempts = append(f.attempts, dialAttempt{url: url, header: h, at: time.Now()})
	var err error
	if len(f.results) > 0 {
		err, f.results = f.results[0], f.results[1:]
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	client, server := memPair()
	f.accepted <- server
	return client, nil
}

func (f *fakeACS) dials() []dialAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dialAttempt(nil), f.attempts...)
}
