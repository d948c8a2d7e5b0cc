package dockerapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/enginetest"
	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// TestConformanceDocker runs the conformance suite on the real engine, the
// same suite TestConformanceFake runs on the fake.
func TestConformanceDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; skipped with -short")
	}
	enginetest.RunConformance(t, dockerHarness)
}

// dockerHarness is the suite's harness on the local engine: busybox
// commands in the test image, a proxy in front of the engine so that the
// event stream can be broken, the dev-setup registry, and a registry that
// stalls.
func dockerHarness(t *testing.T) enginetest.Harness {
	direct := dockerClient(t)
	skipOrFail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := direct.InspectImage(t.Context(), enginetest.TestImage); err != nil {
		skipOrFail("%s is missing (run make dev-setup): %v", enginetest.TestImage, err)
	}
	proxy := newEngineProxy(t, direct.Endpoint())
	c, err := New("tcp://" + proxy.addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	h := enginetest.BusyboxHarness(c)
	h.BreakEvents = func(*testing.T) {
		proxy.breakAll()
		_ = c.Close() // drop the pool's idle connections, broken too
	}
	h.Registry = func(t *testing.T) enginetest.RegistryImage {
		img, err := devRegistryImage(t.Context())
		if err != nil {
			skipOrFail("the dev-setup registry: %v (run make dev-setup)", err)
		}
		return img
	}
	h.StalledImage = stallingRegistry
	return h
}

// The registry scripts/dev-setup.sh runs: htpasswd basic auth, the test
// image pushed as ecs-test/busybox:latest and :v2.
const (
	devRegistryAddr = "127.0.0.1:5000"
	devRegistryUser = "ecs-test"
	devRegistryRepo = "ecs-test/busybox"
	devRegistryTag  = "v2"
)

// devRegistryImage checks that the registry answers with its credentials
// and holds the image.
func devRegistryImage(ctx context.Context) (enginetest.RegistryImage, error) {
	dir := os.Getenv("ECS_TEST_REGISTRY_DIR")
	if dir == "" {
		dir = "/var/tmp/ecs-agent-test-registry"
	}
	pw, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		return enginetest.RegistryImage{}, fmt.Errorf("its password: %w", err)
	}
	auth := runtime.RegistryAuth{Username: devRegistryUser, Password: strings.TrimSpace(string(pw)), ServerAddress: devRegistryAddr}
	url := fmt.Sprintf("http://%s/v2/%s/manifests/%s", devRegistryAddr, devRegistryRepo, devRegistryTag)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return enginetest.RegistryImage{}, err
	}
	req.SetBasicAuth(auth.Username, auth.Password)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return enginetest.RegistryImage{}, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return enginetest.RegistryImage{}, fmt.Errorf("HEAD %s: %s", url, resp.Status)
	}
	return enginetest.RegistryImage{Ref: fmt.Sprintf("%s/%s:%s", devRegistryAddr, devRegistryRepo, devRegistryTag), Auth: auth}, nil
}

// stallingRegistry serves a one-layer image on loopback whose layer never
// arrives: the manifest and the config are served, the layer's response
// sends its headers and then nothing. Docker trusts registries on
// 127.0.0.0/8 over plain HTTP.
func stallingRegistry(t *testing.T) string {
	t.Helper()
	digest := func(b []byte) string {
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	layerDigest := digest([]byte("a layer that never arrives"))
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config), "digest": digest(config)},
		"layers": []map[string]any{{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
			"size": 1 << 20, "digest": layerDigest}},
	})
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		switch {
		case r.URL.Path == "/v2/":
			_, _ = w.Write([]byte("{}"))
		case strings.HasSuffix(r.URL.Path, "/manifests/latest"), strings.HasSuffix(r.URL.Path, "/manifests/"+digest(manifest)):
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", digest(manifest))
			_, _ = w.Write(manifest)
		case strings.HasSuffix(r.URL.Path, "/blobs/"+digest(config)):
			_, _ = w.Write(config)
		case strings.HasSuffix(r.URL.Path, "/blobs/"+layerDigest):
			w.Header().Set("Content-Length", fmt.Sprint(1<<20))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select { // the stall
			case <-r.Context().Done():
			case <-stop:
			}
		default:
			t.Logf("stalling registry: %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		close(stop)
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://") + "/ecs-agent-test/stalled:latest"
}

// engineProxy forwards TCP connections to the engine, so that a test can
// cut them all at once, as an engine restart does.
type engineProxy struct {
	t        *testing.T
	l        net.Listener
	upstream func() (net.Conn, error)
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newEngineProxy(t *testing.T, endpoint string) *engineProxy {
	t.Helper()
	network, address, ok := strings.Cut(endpoint, "://")
	require.True(t, ok && (network == "unix" || network == "tcp"), "engine endpoint %q: want unix:// or tcp://", endpoint)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &engineProxy{
		t: t, l: l, conns: map[net.Conn]bool{},
		upstream: func() (net.Conn, error) { return net.DialTimeout(network, address, 10*time.Second) },
	}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = l.Close()
		p.breakAll()
		p.wg.Wait()
	})
	return p
}

func (p *engineProxy) addr() string { return p.l.Addr().String() }

func (p *engineProxy) accept() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return // closed at cleanup
		}
		up, err := p.upstream()
		if err != nil {
			p.t.Logf("engine proxy: dial the engine: %v", err)
			_ = down.Close()
			continue
		}
		p.mu.Lock()
		p.conns[down], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(up, down) })
		p.wg.Go(func() { pipe(down, up) })
	}
}

// breakAll closes every open connection; new ones still work.
func (p *engineProxy) breakAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}
