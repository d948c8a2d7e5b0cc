// Package images pulls the images tasks need and removes the ones they no
// longer use.
//
// Pull applies ECS_IMAGE_PULL_BEHAVIOR, registry credentials from
// ECS_ENGINE_AUTH_TYPE/ECS_ENGINE_AUTH_DATA and the pull timeouts; pulls of
// the same image at the same time share one Docker pull. Use and Release
// count which containers use which image, and Run removes old unused images
// every ECS_IMAGE_CLEANUP_INTERVAL. What the manager knows about each image
// (ImageState) is persisted so that "once" and cleanup survive restarts.
package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// Pull behaviours of ECS_IMAGE_PULL_BEHAVIOR.
const (
	BehaviorDefault      = "default"       // pull; on failure use the cached image if there is one
	BehaviorAlways       = "always"        // pull; a failure fails
	BehaviorOnce         = "once"          // pull unless a pull of this name ever succeeded
	BehaviorPreferCached = "prefer-cached" // pull only if there is no cached image
)

// keyImageID is the log field of an image ID.
const keyImageID = "imageId"

// progressLogInterval rate-limits the debug lines of a pull's progress.
const progressLogInterval = 5 * time.Second

// Options are the manager's dependencies.
type Options struct {
	Runtime runtime.Runtime
	Store   statemanager.Store
	Config  *config.Config
	Logger  *slog.Logger     // nil discards
	Now     func() time.Time // nil means time.Now
}

// Manager pulls images, tracks their use and cleans them up. It is safe
// for concurrent use.
type Manager struct {
	rt    runtime.Runtime
	store statemanager.Store
	cfg   *config.Config
	log   *slog.Logger
	now   func() time.Time
	auth  registryAuths

	mu      sync.Mutex
	states  map[string]*ImageState // by image ID
	users   map[string]string      // container key → normalised image name
	flights map[string]*flight     // by normalised image name
}

// New loads the persisted image states and parses the registry
// credentials. It does not contact Docker.
func New(o Options) (*Manager, error) {
	if o.Runtime == nil || o.Store == nil || o.Config == nil {
		return nil, errors.New("images.New: Runtime, Store and Config are required")
	}
	auth, err := parseAuth(o.Config.EngineAuthType, o.Config.EngineAuthData)
	if err != nil {
		return nil, fmt.Errorf("image manager: %w", err)
	}
	m := &Manager{
		rt: o.Runtime, store: o.Store, cfg: o.Config, log: o.Logger, now: o.Now, auth: auth,
		states:  make(map[string]*ImageState),
		users:   make(map[string]string),
		flights: make(map[string]*flight),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	err = o.Store.ForEach(statemanager.BucketImages, func(key string, raw []byte) error {
		var s ImageState
		if err := json.Unmarshal(raw, &s); err != nil {
			// One unreadable record must not stop the agent: the image is
			// merely forgotten (and so never cleaned up by us).
			m.log.Warn("ignoring unreadable image state", logging.KeyKey, key, logging.KeyError, err)
			return nil
		}
		if s.ImageID == "" {
			s.ImageID = key
		}
		m.states[s.ImageID] = &s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image manager: load %s: %w", statemanager.BucketImages, err)
	}
	return m, nil
}

// States returns a copy of every tracked image state, for introspection
// and tests.
func (m *Manager) States() []ImageState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ImageState, 0, len(m.states))
	for _, s := range m.states {
		out = append(out, s.clone())
	}
	slices.SortFunc(out, func(a, b ImageState) int { return a.LastUsedAt.Compare(b.LastUsedAt) })
	return out
}

// Use records that containerKey ("<taskID>/<containerName>") uses image,
// which keeps the image from being cleaned up until Release.
func (m *Manager) Use(image, containerKey string) {
	name := Normalize(image)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[containerKey] = name
	m.touch(name)
}

// Release records that containerKey no longer uses its image.
func (m *Manager) Release(containerKey string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name, ok := m.users[containerKey]
	if !ok {
		return
	}
	delete(m.users, containerKey)
	m.touch(name)
}

// touch updates LastUsedAt of the image called name. The caller holds m.mu.
func (m *Manager) touch(name string) {
	s := m.stateByName(name)
	if s == nil {
		return
	}
	s.LastUsedAt = m.now()
	m.persist(s)
}

// stateByName finds the state whose Names include name. The caller holds
// m.mu.
func (m *Manager) stateByName(name string) *ImageState {
	for _, s := range m.states {
		if slices.Contains(s.Names, name) {
			return s
		}
	}
	return nil
}

// persist saves s; a failure is logged, not returned, because the image
// itself is fine and the state is rebuilt on the next pull or use. The
// caller holds m.mu.
func (m *Manager) persist(s *ImageState) {
	if err := m.store.Put(statemanager.BucketImages, s.ImageID, s); err != nil {
		m.log.Warn("saving image state failed", keyImageID, s.ImageID, logging.KeyError, err)
	}
}

// record tracks img under name after a pull (pulled) or a first use of a
// cached copy, moving name off any image it pointed at before.
func (m *Manager) record(name string, img runtime.Image, pulled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, s := range m.states {
		if s.ImageID != img.ID && slices.Contains(s.Names, name) {
			s.Names = slices.DeleteFunc(s.Names, func(n string) bool { return n == name })
			m.persist(s)
		}
	}
	s := m.states[img.ID]
	if s == nil {
		s = &ImageState{ImageID: img.ID, PulledAt: now, LastUsedAt: now}
		m.states[img.ID] = s
	}
	s.Size = img.Size
	if !slices.Contains(s.Names, name) {
		s.Names = append(s.Names, name)
	}
	if pulled {
		s.PulledAt = now
		s.PullSucceeded = true
	}
	m.persist(s)
}

// pulledOnce reports whether a pull of name ever succeeded.
func (m *Manager) pulledOnce(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stateByName(name)
	return s != nil && s.PullSucceeded
}
