package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentruntime "github.com/open-ecs/ecs-agent/engine/runtime"
)

// unixDocker serves handler as a Docker engine on a unix socket and returns
// a Client for it.
func unixDocker(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			return
		}
		handler(w, r)
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New("unix://" + sock)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStreamStatsOwnConnection reads stats streams through the
// connection-per-request client: samples arrive in order, the stream ends
// when its context does, a container Docker does not have is ErrNotFound,
// and a stream holds no goroutine besides its reader.
func TestStreamStatsOwnConnection(t *testing.T) {
	release := make(chan struct{})
	c := unixDocker(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/containers/gone/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such container: gone"}`)
			return
		}
		if r.URL.Query().Get("stream") != "1" || !strings.HasPrefix(r.URL.Path, "/v1.41/") {
			http.Error(w, "want a stream on API 1.41, got "+r.URL.String(), http.StatusBadRequest)
			return
		}
		for i := range 3 {
			fmt.Fprintf(w, `{"read":"2024-01-02T03:04:0%dZ","cpu_stats":{"cpu_usage":{"total_usage":%d}}}`+"\n", i, i)
			w.(http.Flusher).Flush()
		}
		select { // then quiet, as a stream between samples
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)

	_, err := c.stream.Ping(context.Background()) // negotiate first, as the agent's start does
	require.NoError(t, err)
	err = c.StreamStats(context.Background(), "gone", func(agentruntime.ContainerStats) {})
	require.True(t, errors.Is(err, agentruntime.ErrNotFound), "got %v", err)

	const streams = 20
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int][]uint64{}
	for i := range streams {
		wg.Go(func() {
			err := c.StreamStats(ctx, fmt.Sprint("c", i), func(s agentruntime.ContainerStats) {
				mu.Lock()
				got[i] = append(got[i], s.CPUUsage)
				mu.Unlock()
			})
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
			}
		})
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range streams {
			if len(got[i]) < 3 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	// The test's goroutine per stream and the server's two (its connection
	// and its background read): 3.0, nothing of the client's own.
	perStream := float64(runtime.NumGoroutine()-before) / streams
	t.Logf("%.2f goroutines per stream", perStream)
	require.Less(t, perStream, 4.0, "goroutines per stream (http.Transport adds two: 4.85)")
	cancel()
	wg.Wait()
	for i := range streams {
		require.Equal(t, []uint64{0, 1, 2}, got[i], "stream %d", i)
	}
}
