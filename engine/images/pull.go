package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// flight is one Docker pull shared by every concurrent Pull of an image.
type flight struct {
	done    chan struct{} // closed when img and err are set
	img     runtime.Image
	err     error
	waiters int
	cancel  context.CancelFunc
}

// Pull makes image available locally according to ECS_IMAGE_PULL_BEHAVIOR
// and returns it, recorded as used by containerKey ("<taskID>/<containerName>")
// as Use does. The image is held from the moment Pull starts, and cleanup
// removes neither an image that is held nor one in use, so the image Pull
// returns is still there when the container is created; Release ends the
// use. The error names the image and what failed.
func (m *Manager) Pull(ctx context.Context, image, containerKey string) (runtime.Image, error) {
	name := Normalize(image)
	if err := m.hold(ctx, name); err != nil {
		return runtime.Image{}, fmt.Errorf("pull %s: %w", image, err)
	}
	img, err := m.fetch(ctx, image, name)
	m.mu.Lock()
	m.unhold(name)
	if err == nil {
		m.users[containerKey] = name
		m.touch(name)
	}
	m.mu.Unlock()
	m.flush()
	return img, err
}

// fetch applies the pull behaviour.
func (m *Manager) fetch(ctx context.Context, image, name string) (runtime.Image, error) {
	switch m.cfg.ImagePullBehavior {
	case BehaviorPreferCached:
		if img, err := m.cached(ctx, name); err == nil {
			m.log.Info("using cached image", logging.KeyImage, image, keyImageID, img.ID)
			return img, nil
		}
		return m.pullShared(ctx, image, name)
	case BehaviorOnce:
		if m.pulledOnce(name) {
			if img, err := m.cached(ctx, name); err == nil {
				return img, nil
			}
		}
		return m.pullShared(ctx, image, name)
	case BehaviorAlways:
		return m.pullShared(ctx, image, name)
	default:
		img, err := m.pullShared(ctx, image, name)
		if err == nil || ctx.Err() != nil {
			return img, err
		}
		cached, cerr := m.cached(ctx, name)
		if cerr != nil {
			return runtime.Image{}, err
		}
		m.log.Warn("image pull failed; using the cached image", logging.KeyImage, image,
			keyImageID, cached.ID, logging.KeyError, err)
		return cached, nil
	}
}

// hold keeps cleanup off the image called name until unhold. A removal of
// that image already under way is waited for first: what Pull then finds
// (or pulls again) is there to stay.
func (m *Manager) hold(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if m.closed {
			return ErrStopped // nothing may write to the store any more
		}
		done := m.removalOf(name)
		if done == nil {
			m.holds[name]++
			return nil
		}
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			m.mu.Lock()
			return ctx.Err()
		}
		m.mu.Lock()
	}
}

// unhold ends one hold. The caller holds m.mu.
func (m *Manager) unhold(name string) {
	if m.holds[name]--; m.holds[name] <= 0 {
		delete(m.holds, name)
	}
}

// cached inspects the local copy of name and tracks it.
func (m *Manager) cached(ctx context.Context, name string) (runtime.Image, error) {
	img, err := m.rt.InspectImage(ctx, name)
	if err != nil {
		return runtime.Image{}, err
	}
	m.record(name, img, false)
	return img, nil
}

// pullShared joins the pull of name in flight, or starts one. The pull
// runs in a goroutine of its own, under the manager's lifetime (not the
// caller's context) and ECS_IMAGE_PULL_TIMEOUT, so that one caller giving
// up does not fail the others; it is cancelled when every caller has given
// up, or when Run ends, which waits for it.
func (m *Manager) pullShared(ctx context.Context, image, name string) (runtime.Image, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return runtime.Image{}, fmt.Errorf("pull %s: %w", image, ErrStopped)
	}
	f := m.flights[name]
	if f == nil {
		pctx, cancel := m.flightContext()
		f = &flight{done: make(chan struct{}), cancel: cancel}
		m.flights[name] = f
		m.pulls.Add(1) // under mu, with closed false: shutdown waits for it
		go func() {
			defer m.pulls.Done()
			img, err := m.pull(pctx, image, name)
			cancel()
			m.mu.Lock()
			delete(m.flights, name)
			f.img, f.err = img, err
			m.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	m.mu.Unlock()

	select {
	case <-f.done:
		return f.img, f.err
	case <-ctx.Done():
		m.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
		}
		m.mu.Unlock()
		return runtime.Image{}, fmt.Errorf("pull %s: %w", image, ctx.Err())
	}
}

// flightContext is the context of one shared pull: the manager's lifetime,
// bounded by ECS_IMAGE_PULL_TIMEOUT when it is set.
func (m *Manager) flightContext() (context.Context, context.CancelFunc) {
	if t := m.cfg.ImagePullTimeout; t > 0 {
		return context.WithTimeout(m.life, t)
	}
	return context.WithCancel(m.life)
}

// pull runs one Docker pull and records the result.
func (m *Manager) pull(ctx context.Context, image, name string) (runtime.Image, error) {
	start := m.now()
	log := m.log.With(logging.KeyImage, image)
	log.Info("image pull started")
	lastProgress := time.Time{}
	opts := runtime.PullOptions{
		Auth:              m.auth.lookup(name),
		InactivityTimeout: m.cfg.ImagePullInactivityTimeout,
		Progress: func(line string) {
			if now := m.now(); now.Sub(lastProgress) >= progressLogInterval {
				lastProgress = now
				log.Debug("image pull progress", logging.KeyStatus, line)
			}
		},
	}
	err := m.rt.PullImage(ctx, image, opts)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("pull %s: not complete within ECS_IMAGE_PULL_TIMEOUT (%s): %w",
			image, m.cfg.ImagePullTimeout, err)
	case err != nil && m.life.Err() != nil:
		err = fmt.Errorf("pull %s: %w: %w", image, ErrStopped, err)
	}
	if err != nil {
		log.Warn("image pull failed", logging.KeyDuration, m.now().Sub(start), logging.KeyError, err)
		return runtime.Image{}, err
	}
	img, err := m.rt.InspectImage(ctx, image)
	if err != nil {
		err = fmt.Errorf("pull %s: the pull succeeded but the image cannot be inspected: %w", image, err)
		log.Warn("image pull failed", logging.KeyDuration, m.now().Sub(start), logging.KeyError, err)
		return runtime.Image{}, err
	}
	m.record(name, img, true)
	log.Info("image pull finished", keyImageID, img.ID, logging.KeyDuration, m.now().Sub(start))
	return img, nil
}
