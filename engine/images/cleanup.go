package images

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Run removes unused images every ECS_IMAGE_CLEANUP_INTERVAL until ctx
// ends. Cleanup is off with ECS_DISABLE_IMAGE_CLEANUP and with the
// prefer-cached behaviour, which relies on cached images staying.
//
// Run owns the manager's lifetime: when ctx ends it cancels the pulls in
// flight and returns only once they have finished, so that nothing writes
// to the store after the agent closes it. Pull fails with ErrStopped after.
func (m *Manager) Run(ctx context.Context) error {
	defer m.shutdown()
	if m.cfg.ImageCleanupDisabled || m.cfg.ImagePullBehavior == BehaviorPreferCached {
		m.log.Info("image cleanup is off",
			logging.KeyReason, "ECS_DISABLE_IMAGE_CLEANUP=true or ECS_IMAGE_PULL_BEHAVIOR=prefer-cached")
		<-ctx.Done()
		return nil
	}
	interval := m.cfg.ImageCleanupInterval
	if interval <= 0 {
		interval = 30 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.Cleanup(ctx)
		}
	}
}

// Cleanup runs one cleanup cycle: it removes up to
// ECS_NUM_IMAGES_DELETE_PER_CYCLE tracked images that no container uses
// and no pull holds, pulled more than ECS_IMAGE_MINIMUM_CLEANUP_AGE ago and
// not listed in ECS_EXCLUDE_UNTRACKED_IMAGE, least recently used first. It
// returns the IDs it removed.
func (m *Manager) Cleanup(ctx context.Context) []string {
	var removed []string
	for _, s := range m.candidates() {
		if ctx.Err() != nil {
			break
		}
		done, ok := m.beginRemoval(s.ImageID)
		if !ok {
			continue // a container or a pull started using it since candidates ran
		}
		err := m.remove(ctx, s)
		m.endRemoval(s.ImageID, done, err == nil)
		if err != nil {
			m.log.Warn("image cleanup: removing image failed", keyImageID, s.ImageID,
				logging.KeyImage, s.Names, logging.KeyError, err)
			continue
		}
		m.log.Info("image cleanup: removed image", keyImageID, s.ImageID, logging.KeyImage, s.Names)
		removed = append(removed, s.ImageID)
	}
	return removed
}

// shutdown stops new pulls, cancels those in flight and waits for them,
// then for the last state write, so that nothing writes to the store once
// Run has returned.
func (m *Manager) shutdown() {
	m.mu.Lock()
	m.closed = true // under mu: no pull is counted in m.pulls after this
	m.mu.Unlock()
	m.stop()
	m.pulls.Wait()
	m.writeMu.Lock() // wait for a writer in progress, then write what is left
	m.drain()
}

// busyNames are the names that a container uses, a pull holds or a shared
// pull is fetching. The caller holds m.mu.
func (m *Manager) busyNames() map[string]bool {
	busy := make(map[string]bool, len(m.users)+len(m.holds)+len(m.flights))
	for _, name := range m.users {
		busy[name] = true
	}
	for name := range m.holds {
		busy[name] = true
	}
	for name := range m.flights {
		busy[name] = true
	}
	return busy
}

// beginRemoval marks the image with id as being removed, unless it is busy
// now. Marking and the check are one step under m.mu, and Pull takes its
// hold under m.mu too: either the pull holds the image first and cleanup
// leaves it, or cleanup marks it first and the pull waits for the removal.
func (m *Manager) beginRemoval(id string) (chan struct{}, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.states[id]
	if s == nil || m.removing[id] != nil {
		return nil, false
	}
	busy := m.busyNames()
	if slices.ContainsFunc(s.Names, func(n string) bool { return busy[n] }) {
		return nil, false
	}
	done := make(chan struct{})
	m.removing[id] = done
	return done, true
}

// endRemoval forgets a removed image and lets waiting pulls go on.
func (m *Manager) endRemoval(id string, done chan struct{}, removed bool) {
	m.mu.Lock()
	if removed {
		delete(m.states, id)
		m.dirty[id] = true
	}
	delete(m.removing, id)
	close(done)
	m.mu.Unlock()
	m.flush()
}

// removalOf returns the done channel of a removal under way of the image
// called name, or nil. The caller holds m.mu.
func (m *Manager) removalOf(name string) chan struct{} {
	for id, done := range m.removing {
		if s := m.states[id]; s != nil && slices.Contains(s.Names, name) {
			return done
		}
	}
	return nil
}

// candidates picks this cycle's images under m.mu.
func (m *Manager) candidates() []ImageState {
	m.mu.Lock()
	defer m.mu.Unlock()
	busy := m.busyNames()
	excluded := make(map[string]bool)
	for _, e := range m.cfg.ImageCleanupExclusionList {
		excluded[Normalize(e)] = true
	}
	cutoff := m.now().Add(-m.cfg.MinimumImageDeletionAge)
	var out []ImageState
	for _, s := range m.states {
		if s.PulledAt.After(cutoff) || excluded[s.ImageID] {
			continue
		}
		if slices.ContainsFunc(s.Names, func(n string) bool { return excluded[n] || busy[n] }) {
			continue
		}
		out = append(out, s.clone())
	}
	slices.SortFunc(out, func(a, b ImageState) int { return a.LastUsedAt.Compare(b.LastUsedAt) })
	if n := m.cfg.NumImagesToDeletePerCycle; n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// remove deletes an image's tags and then the image in Docker. An image
// already gone from Docker counts as removed.
func (m *Manager) remove(ctx context.Context, s ImageState) error {
	// Removing by ID fails when several names point at the image, so the
	// names go first; the last one removes the image itself.
	for _, name := range s.Names {
		if err := m.rt.RemoveImage(ctx, name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
	}
	if err := m.rt.RemoveImage(ctx, s.ImageID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	return nil
}
