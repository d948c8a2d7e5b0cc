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
	"context"
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
//
// Its lock (mu) guards memory only; image states are written to the store
// after it is released (flush), because each write is an fsync and every
// task's pulls and uses go through this one lock.
type Manager struct {
	rt    runtime.Runtime
	store statemanager.Store
	cfg   *config.Config
	log   *slog.Logger
	now   func() time.Time
	auth  registryAuths

	// life is cancelled when Run ends; every pull runs under it and is
	// counted in pulls, so that Run returns only once no pull can still
	// write to the store.
	life  context.Context
	stop  context.CancelFunc
	pulls sync.WaitGroup

	mu       sync.Mutex
	closed   bool                     // Run has ended: no new pull
	states   map[string]*ImageState   // by image ID
	users    map[string]string        // container key → normalised image name
	flights  map[string]*flight       // by normalised image name
	holds    map[string]int           // normalised name → Pulls under way
	removing map[string]chan struct{} // image ID → closed when cleanup has removed it (or failed to)
	dirty    map[string]bool          // image IDs whose record must be written or deleted

	// writeMu is held by the one goroutine writing dirty records (flush);
	// it copies each record when it writes it, so the last write of a
	// record is its newest state.
	writeMu sync.Mutex
}

// ErrStopped is returned by Pull once Run has ended.
var ErrStopped = errors.New("image manager stopped")

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
		states:   make(map[string]*ImageState),
		users:    make(map[string]string),
		flights:  make(map[string]*flight),
		holds:    make(map[string]int),
		removing: make(map[string]chan struct{}),
		dirty:    make(map[string]bool),
	}
	m.life, m.stop = context.WithCancel(context.Background())
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
// which keeps the image from being cleaned up until Release. Pull does it
// already; Use is for containers found again after a restart.
func (m *Manager) Use(image, containerKey string) {
	name := Normalize(image)
	m.mu.Lock()
	m.users[containerKey] = name
	m.touch(name)
	m.mu.Unlock()
	m.flush()
}

// Release records that containerKey no longer uses its image.
func (m *Manager) Release(containerKey string) {
	m.mu.Lock()
	name, ok := m.users[containerKey]
	if ok {
		delete(m.users, containerKey)
		m.touch(name)
	}
	m.mu.Unlock()
	m.flush()
}

// touch updates LastUsedAt of the image called name. The caller holds m.mu
// and flushes after releasing it.
func (m *Manager) touch(name string) {
	s := m.stateByName(name)
	if s == nil {
		return
	}
	s.LastUsedAt = m.now()
	m.dirty[s.ImageID] = true
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

// flush writes the records marked dirty: the current state of each, or a
// delete for a state that is gone. m.mu is held only to copy them, never
// during a write. One caller writes at a time (writeMu); a caller that finds
// a write in progress leaves its records to that writer, which writes
// whatever was marked until nothing is left, so no caller waits for
// another's disk write. A failed write is logged, not returned: the image
// itself is fine, and its state is written again on its next pull or use.
func (m *Manager) flush() {
	if !m.writeMu.TryLock() {
		return // the writer in progress checks for more before it stops
	}
	m.drain()
}

// drain writes until nothing is dirty. The caller holds writeMu; drain
// releases it while holding m.mu, so that a record marked after the last
// check finds writeMu free and writes itself.
func (m *Manager) drain() {
	for {
		m.mu.Lock()
		if len(m.dirty) == 0 {
			m.writeMu.Unlock()
			m.mu.Unlock()
			return
		}
		var puts []statemanager.Record
		var deletes []string
		for id := range m.dirty {
			if s := m.states[id]; s != nil {
				puts = append(puts, statemanager.Record{Bucket: statemanager.BucketImages, Key: id, Value: s.clone()})
			} else {
				deletes = append(deletes, id)
			}
		}
		clear(m.dirty)
		m.mu.Unlock()

		if len(puts) > 0 {
			if err := m.store.PutMany(puts...); err != nil {
				m.log.Warn("saving image state failed", logging.KeyCount, len(puts), logging.KeyError, err)
			}
		}
		for _, id := range deletes {
			if err := m.store.Delete(statemanager.BucketImages, id); err != nil {
				m.log.Warn("forgetting image state failed", keyImageID, id, logging.KeyError, err)
			}
		}
	}
}

// record tracks img under name after a pull (pulled) or a first use of a
// cached copy, moving name off any image it pointed at before.
func (m *Manager) record(name string, img runtime.Image, pulled bool) {
	defer m.flush()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, s := range m.states {
		if s.ImageID != img.ID && slices.Contains(s.Names, name) {
			s.Names = slices.DeleteFunc(s.Names, func(n string) bool { return n == name })
			m.dirty[s.ImageID] = true
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
	m.dirty[s.ImageID] = true
}

// pulledOnce reports whether a pull of name ever succeeded.
func (m *Manager) pulledOnce(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stateByName(name)
	return s != nil && s.PullSucceeded
}
