package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/statemanager"
)

const app = "127.0.0.1:5000/app:1"

func TestPullRecordsState(t *testing.T) {
	e := newEnv(t, nil)
	id := e.rt.SetRegistryImage(app, nil)
	m := e.manager(t)

	img, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Equal(t, id, img.ID)

	var raw map[string]any
	require.NoError(t, e.store.Get(statemanager.BucketImages, id, &raw))
	assert.Equal(t, map[string]any{"ImageID": id, "Names": []any{app}, "Size": float64(img.Size)}, raw["Image"],
		"the stored layout nests the identity under Image")
	assert.Equal(t, true, raw["PullSucceeded"])
	assert.Equal(t, e.clock.Now().Format(time.RFC3339Nano), raw["PulledAt"])

	logs := e.logs.String()
	assert.Contains(t, logs, "image pull started")
	assert.Contains(t, logs, "image pull finished")
	assert.Contains(t, logs, "duration=")
}

func TestPullDefaultFallsBackToCache(t *testing.T) {
	e := newEnv(t, nil)
	id := e.rt.SetImage(app) // local only: the registry does not have it
	m := e.manager(t)

	img, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err, "default behaviour uses the cached image when the pull fails")
	assert.Equal(t, id, img.ID)
	assert.Equal(t, 1, e.rt.Calls("PullImage"))
	assert.Contains(t, e.logs.String(), "using the cached image")

	_, err = m.Pull(bg, "127.0.0.1:5000/other:1", "task/c")
	require.ErrorIs(t, err, runtime.ErrNotFound, "no cache, no image")
	assert.Contains(t, err.Error(), "pull 127.0.0.1:5000/other:1")
}

func TestPullAlwaysFailsWithoutRegistry(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.ImagePullBehavior = BehaviorAlways })
	e.rt.SetImage(app)
	m := e.manager(t)
	_, err := m.Pull(bg, app, "task/c")
	require.ErrorIs(t, err, runtime.ErrNotFound)

	e.rt.SetRegistryImage(app, nil)
	_, err = m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	_, err = m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Equal(t, 3, e.rt.Calls("PullImage"), "always pulls")
}

func TestPullOnce(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.ImagePullBehavior = BehaviorOnce })
	e.rt.SetRegistryImage(app, nil)
	m := e.manager(t)
	_, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	_, err = m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Equal(t, 1, e.rt.Calls("PullImage"))

	m2 := e.manager(t) // restarted agent: the state says the pull succeeded
	_, err = m2.Pull(bg, "127.0.0.1:5000/app:1", "task/c")
	require.NoError(t, err)
	assert.Equal(t, 1, e.rt.Calls("PullImage"), "once survives a restart")

	require.NoError(t, e.rt.RemoveImage(bg, app))
	_, err = m2.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Equal(t, 2, e.rt.Calls("PullImage"), "a vanished image is pulled again")

	// A cached image never pulled by us is still pulled once.
	e.rt.SetImage("busybox")
	e.rt.SetRegistryImage("busybox", nil)
	_, err = m2.Pull(bg, "busybox", "task/c")
	require.NoError(t, err)
	assert.Equal(t, 3, e.rt.Calls("PullImage"))
}

func TestPullPreferCached(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.ImagePullBehavior = BehaviorPreferCached })
	id := e.rt.SetImage(app)
	e.rt.SetRegistryImage("127.0.0.1:5000/new:1", nil)
	m := e.manager(t)
	img, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)
	assert.Equal(t, id, img.ID)
	assert.Equal(t, 0, e.rt.Calls("PullImage"))
	require.Len(t, m.States(), 1, "a cached image in use is tracked")

	_, err = m.Pull(bg, "127.0.0.1:5000/new:1", "task/c")
	require.NoError(t, err)
	assert.Equal(t, 1, e.rt.Calls("PullImage"), "nothing cached: pull")
}

func TestPullRegistryAuth(t *testing.T) {
	creds := &runtime.RegistryAuth{Username: "user", Password: "s3cret-pass"}
	dockercfg := base64.StdEncoding.EncodeToString([]byte("user:s3cret-pass"))
	for _, tc := range []struct{ name, typ, data string }{
		{"docker", "docker", `{"127.0.0.1:5000":{"username":"user","password":"s3cret-pass","email":"a@b.c"}}`},
		{"https prefix", "docker", `{"https://127.0.0.1:5000/v2/":{"username":"user","password":"s3cret-pass"}}`},
		{"dockercfg", "dockercfg", `{"127.0.0.1:5000":{"auth":"` + dockercfg + `","email":"a@b.c"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config.Config) {
				c.EngineAuthType, c.EngineAuthData = tc.typ, config.NewSecret(tc.data)
			})
			e.rt.SetRegistryImage(app, creds)
			_, err := e.manager(t).Pull(bg, app, "task/c")
			require.NoError(t, err)
			assert.NotContains(t, e.logs.String(), "s3cret-pass", "credentials are never logged")
		})
	}

	t.Run("wrong registry", func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) {
			c.EngineAuthType = "docker"
			c.EngineAuthData = config.NewSecret(`{"registry.example.com":{"username":"user","password":"s3cret-pass"}}`)
		})
		e.rt.SetRegistryImage(app, creds)
		_, err := e.manager(t).Pull(bg, app, "task/c")
		require.ErrorIs(t, err, runtime.ErrAuth)
		assert.Contains(t, err.Error(), "pull 127.0.0.1:5000/app:1: registry authentication failed")
		assert.NotContains(t, e.logs.String(), "s3cret-pass")
	})
}

func TestParseAuth(t *testing.T) {
	a, err := parseAuth("docker", config.NewSecret(`{"https://index.docker.io/v1/":{"username":"u","password":"p"},"registry-1.docker.io":{"username":"u2","password":"p2"}}`))
	require.NoError(t, err)
	require.Len(t, a, 1, "both spell Docker Hub")
	got := a.lookup(Normalize("busybox"))
	require.NotNil(t, got)
	assert.Contains(t, []string{"u", "u2"}, got.Username)
	assert.NotNil(t, a.lookup("docker.io/library/busybox:1"))
	assert.Nil(t, a.lookup("quay.io/x/y:1"))

	none, err := parseAuth("", config.Secret{})
	require.NoError(t, err)
	assert.Nil(t, none.lookup("busybox"))

	for _, tc := range []struct{ typ, data, want string }{
		{"docker", `{"r": not json s3cret`, "ECS_ENGINE_AUTH_DATA"},
		{"dockercfg", `{"r":{"auth":"%%%s3cret"}}`, "base64"},
		{"dockercfg", `{"r":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolons3cret")) + `"}}`, "no colon"},
		{"basic", `{"r":{"username":"s3cret"}}`, "ECS_ENGINE_AUTH_TYPE"},
	} {
		_, err := parseAuth(tc.typ, config.NewSecret(tc.data))
		require.Error(t, err, tc.data)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "s3cret", "errors never quote the credentials")
	}

	e := newEnv(t, func(c *config.Config) { c.EngineAuthType, c.EngineAuthData = "docker", config.NewSecret("[") })
	_, err = New(Options{Runtime: e.rt, Store: e.store, Config: e.cfg})
	require.Error(t, err, "New rejects bad auth data")
}

func TestNormalizeAndRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                           "busybox:latest",
		"busybox:1":                         "busybox:1",
		"docker.io/library/busybox":         "busybox:latest",
		"index.docker.io/library/busybox:1": "busybox:1",
		"docker.io/me/app":                  "me/app:latest",
		"127.0.0.1:5000/app":                "127.0.0.1:5000/app:latest",
		"127.0.0.1:5000/app:1":              "127.0.0.1:5000/app:1",
		"app@sha256:abc":                    "app@sha256:abc",
	} {
		assert.Equal(t, want, Normalize(in), in)
	}
	for in, want := range map[string]string{
		"busybox":                   "docker.io",
		"me/app:1":                  "docker.io",
		"index.docker.io/me/app":    "docker.io",
		"127.0.0.1:5000/app:1":      "127.0.0.1:5000",
		"localhost/app":             "localhost",
		"123.dkr.ecr.aws.com/app:1": "123.dkr.ecr.aws.com",
	} {
		assert.Equal(t, want, RegistryHost(in), in)
	}
}

func TestConcurrentPullsCoalesce(t *testing.T) {
	e := newEnv(t, nil)
	id := e.rt.SetRegistryImage(app, nil)
	release := e.rt.BlockPulls()
	m := e.manager(t)

	const n = 4
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			img, err := m.Pull(bg, app, "task/c")
			results[i], errs[i] = img.ID, err
		})
	}
	waitFor(t, "every caller to join the pull", func() bool { return m.waiters(app) == n && e.rt.PullsWaiting() == 1 })
	release()
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, id, results[i])
	}
	assert.Equal(t, 1, e.rt.Calls("PullImage"), "one Docker pull for all callers")
}

func TestPullCallerCancelDoesNotFailOthers(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.SetRegistryImage(app, nil)
	release := e.rt.BlockPulls()
	m := e.manager(t)

	ctx, cancel := context.WithCancel(bg)
	first := make(chan error, 1)
	go func() { _, err := m.Pull(ctx, app, "task/c"); first <- err }()
	waitFor(t, "the first caller", func() bool { return m.waiters(app) == 1 })
	second := make(chan error, 1)
	go func() { _, err := m.Pull(bg, app, "task/c"); second <- err }()
	waitFor(t, "the second caller", func() bool { return m.waiters(app) == 2 })

	cancel()
	require.ErrorIs(t, <-first, context.Canceled)
	release()
	require.NoError(t, <-second)
	assert.Equal(t, 1, e.rt.Calls("PullImage"))
}

func TestPullCancelledByLastCaller(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.SetRegistryImage(app, nil)
	defer e.rt.BlockPulls()()
	m := e.manager(t)
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { _, err := m.Pull(ctx, app, "task/c"); done <- err }()
	waitFor(t, "the pull to block", func() bool { return e.rt.PullsWaiting() == 1 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	waitFor(t, "the Docker pull to be cancelled", func() bool { return e.rt.PullsWaiting() == 0 })
}

func TestPullTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *config.Config) {
			c.ImagePullTimeout = time.Minute
			c.ImagePullInactivityTimeout = time.Hour
		})
		e.rt.SetRegistryImage(app, nil)
		release := e.rt.BlockPulls()
		defer release()
		m := e.manager(t)
		start := time.Now()
		_, err := m.Pull(bg, app, "task/c")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ECS_IMAGE_PULL_TIMEOUT (1m0s)")
		assert.Equal(t, time.Minute, time.Since(start))

		e.cfg.ImagePullTimeout = 2 * time.Hour
		e.cfg.ImagePullInactivityTimeout = time.Minute
		_, err = m.Pull(bg, app, "task/c")
		require.ErrorIs(t, err, runtime.ErrPullInactive)
	})
}

func TestPullFailureInjected(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.ImagePullBehavior = BehaviorAlways })
	e.rt.SetRegistryImage(app, nil)
	e.rt.FailNext("InspectImage", errors.New("docker restarting"))
	_, err := e.manager(t).Pull(bg, app, "task/c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be inspected")
	assert.Contains(t, err.Error(), "docker restarting")
}

func TestNewSkipsUnreadableState(t *testing.T) {
	e := newEnv(t, nil)
	require.NoError(t, e.store.Put(statemanager.BucketImages, "sha256:bad", json.RawMessage(`"not an object"`)))
	require.NoError(t, e.store.Put(statemanager.BucketImages, "sha256:good",
		ImageState{ImageID: "sha256:good", Names: []string{"a:1"}, PullSucceeded: true}))
	m := e.manager(t)
	states := m.States()
	require.Len(t, states, 1)
	assert.Equal(t, "sha256:good", states[0].ImageID)
	assert.Contains(t, e.logs.String(), "ignoring unreadable image state")
}

func TestPullProgressIsRateLimited(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.SetRegistryImage(app, nil)
	_, err := e.manager(t).Pull(bg, app, "task/c")
	require.NoError(t, err)
	// The fake reports two lines at the same instant: only the first is logged.
	assert.Equal(t, 1, strings.Count(e.logs.String(), "image pull progress"))
	assert.Contains(t, e.logs.String(), "level=DEBUG")
}

func TestUseAndReleasePersistLastUsed(t *testing.T) {
	e := newEnv(t, nil)
	id := e.rt.SetRegistryImage(app, nil)
	m := e.manager(t)
	_, err := m.Pull(bg, app, "task/c")
	require.NoError(t, err)

	e.clock.Advance(time.Minute)
	m.Use(app, "task/web")
	var s ImageState
	require.NoError(t, e.store.Get(statemanager.BucketImages, id, &s))
	assert.Equal(t, e.clock.Now(), s.LastUsedAt.UTC())

	e.clock.Advance(time.Minute)
	m.Release("task/web")
	m.Release("task/web") // a second release is a no-op
	m.Release("never/used")
	require.NoError(t, e.store.Get(statemanager.BucketImages, id, &s))
	assert.Equal(t, e.clock.Now(), s.LastUsedAt.UTC())
	assert.Equal(t, []string{app}, s.Names)
	assert.True(t, s.PullSucceeded)

	m.Use("127.0.0.1:5000/untracked:1", "task/side") // not pulled by us: nothing to update
	assert.Len(t, m.States(), 1)
}

func TestImageStateJSONRoundTrip(t *testing.T) {
	in := ImageState{ImageID: "sha256:x", Names: []string{"a:1"}, Size: 42,
		PulledAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), LastUsedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), PullSucceeded: true}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"Image":{"ImageID":"sha256:x","Names":["a:1"],"Size":42},
		"PulledAt":"2026-01-01T00:00:00Z","LastUsedAt":"2026-01-02T00:00:00Z","PullSucceeded":true}`, string(b))
	var out ImageState
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
}
