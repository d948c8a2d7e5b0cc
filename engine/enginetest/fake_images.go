package enginetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// SetImage makes ref a local image (as if pulled or built) and returns its
// ID. Setting a reference again keeps its ID.
func (f *Fake) SetImage(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref = normalizeRef(ref)
	if id, ok := f.tags[ref]; ok {
		return id
	}
	id := "sha256:" + f.newID("image")
	f.storeImage(ref, id, int64(1<<20+f.seq))
	return id
}

// TagImage gives the local image ref the extra name newRef, like docker
// tag.
func (f *Fake) TagImage(ref, newRef string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findImage(ref)
	if img == nil {
		return notFound("no such image: %s", ref)
	}
	f.storeImage(normalizeRef(newRef), img.ID, img.Size)
	return nil
}

// SetRegistryImage makes ref pullable and returns the ID a pull yields. With
// auth set, a pull must present the same Username and Password, or fails
// with runtime.ErrAuth. Calling it again for ref publishes a new image.
func (f *Fake) SetRegistryImage(ref string, auth *runtime.RegistryAuth) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "sha256:" + f.newID("image")
	f.registry[normalizeRef(ref)] = registryImage{id: id, size: int64(2<<20 + f.seq), auth: auth}
	return id
}

// BlockPulls makes PullImage wait (after its checks, before the image
// arrives) until release is called, the caller's context ends, or the
// pull's InactivityTimeout passes (ErrPullInactive). release is idempotent.
func (f *Fake) BlockPulls() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gate := make(chan struct{})
	f.pullGate = gate
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.pullGate == gate {
			f.pullGate = nil
			close(gate)
		}
	}
}

// PullsWaiting returns how many pulls are blocked by BlockPulls.
func (f *Fake) PullsWaiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pullsWait
}

// storeImage tags id as ref, moving the tag off any older image. The caller
// holds f.mu.
func (f *Fake) storeImage(ref, id string, size int64) {
	if old, ok := f.tags[ref]; ok && old != id {
		if img := f.images[old]; img != nil {
			img.RepoTags = slices.DeleteFunc(img.RepoTags, func(t string) bool { return t == ref })
		}
	}
	img := f.images[id]
	if img == nil {
		img = &runtime.Image{ID: id, Size: size, Created: f.now()}
		f.images[id] = img
	}
	if !slices.Contains(img.RepoTags, ref) {
		img.RepoTags = append(img.RepoTags, ref)
	}
	f.tags[ref] = id
}

// StallPull makes pulls of ref start and then make no progress, as a pull
// from a registry that stops sending a layer: the pull fails with
// runtime.ErrPullInactive after its InactivityTimeout, or when its context
// ends.
func (f *Fake) StallPull(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stalled[normalizeRef(ref)] = true
}

// PullImage pulls ref from the fake registry, reporting progress as
// Docker's stream does.
func (f *Fake) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) error {
	if err := f.enter(ctx, "PullImage"); err != nil {
		return err
	}
	f.mu.Lock()
	norm := normalizeRef(ref)
	img, ok := f.registry[norm]
	gate, stalled := f.pullGate, f.stalled[norm]
	f.mu.Unlock()

	progress := func(s string) {
		if opts.Progress != nil {
			opts.Progress(s)
		}
	}
	repo, tag := norm, "latest"
	if i := strings.LastIndex(norm, ":"); i > strings.LastIndex(norm, "/") {
		repo, tag = norm[:i], norm[i+1:]
	}
	progress(tag + ": Pulling from " + repo)
	if !ok {
		return fmt.Errorf("pull %s: %w: manifest for %s not found: manifest unknown", ref, runtime.ErrNotFound, norm)
	}
	if a := img.auth; a != nil && (opts.Auth == nil || opts.Auth.Username != a.Username || opts.Auth.Password != a.Password) {
		return fmt.Errorf("pull %s: %w: unauthorized: authentication required", ref, runtime.ErrAuth)
	}
	layer := strings.TrimPrefix(img.id, "sha256:")[:12]
	progress(layer + ": Pulling fs layer")
	if stalled {
		gate = make(chan struct{}) // never closed: only the context or the inactivity timer end the wait
	}
	if gate != nil {
		if err := f.waitGate(ctx, gate, opts.InactivityTimeout); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	progress(fmt.Sprintf("%s: Downloading %dB/%dB", layer, img.size/2, img.size))
	progress(layer + ": Pull complete")
	progress("Status: Downloaded newer image for " + norm)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.storeImage(norm, img.id, img.size)
	return nil
}

func (f *Fake) waitGate(ctx context.Context, gate chan struct{}, inactivity time.Duration) error {
	f.mu.Lock()
	f.pullsWait++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.pullsWait--
		f.mu.Unlock()
	}()
	var timeout <-chan time.Time
	if inactivity > 0 {
		t := time.NewTimer(inactivity)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return fmt.Errorf("%w: nothing received for %s", runtime.ErrPullInactive, inactivity)
	}
}

// InspectImage describes a local image by reference or ID.
func (f *Fake) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	if err := f.enter(ctx, "InspectImage"); err != nil {
		return runtime.Image{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findImage(ref)
	if img == nil {
		return runtime.Image{}, notFound("no such image: %s", ref)
	}
	out := *img
	out.RepoTags = slices.Clone(img.RepoTags)
	return out, nil
}

// findImage resolves a reference, a full ID or an ID prefix. The caller
// holds f.mu.
func (f *Fake) findImage(ref string) *runtime.Image {
	if id, ok := f.tags[normalizeRef(ref)]; ok {
		return f.images[id]
	}
	if img := f.images[ref]; img != nil {
		return img
	}
	if strings.HasPrefix(ref, "sha256:") && len(ref) > len("sha256:") {
		for id, img := range f.images {
			if strings.HasPrefix(id, ref) {
				return img
			}
		}
	}
	return nil
}

// RemoveImage removes a tag, or the whole image when given its last tag or
// its ID, as Docker does without force: removing one of several tags only
// untags; removing by ID an image with several tags, or an image a
// container (running or not) uses, fails with a conflict.
func (f *Fake) RemoveImage(ctx context.Context, ref string) error {
	if err := f.enter(ctx, "RemoveImage"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findImage(ref)
	if img == nil {
		return notFound("no such image: %s", ref)
	}
	norm := normalizeRef(ref)
	byTag := slices.Contains(img.RepoTags, norm)
	if byTag && len(img.RepoTags) > 1 {
		img.RepoTags = slices.DeleteFunc(img.RepoTags, func(t string) bool { return t == norm })
		delete(f.tags, norm)
		return nil
	}
	if !byTag && len(img.RepoTags) > 1 {
		return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(img.ID))
	}
	for _, c := range f.containers {
		if c.c.ImageID == img.ID {
			return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by %s container %s",
				shortID(img.ID), stateWord(c.c.State), c.c.ID[:12])
		}
	}
	for _, t := range img.RepoTags {
		delete(f.tags, t)
	}
	delete(f.images, img.ID)
	return nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}

func stateWord(state string) string {
	if state == runtime.StateRunning {
		return "running"
	}
	return "stopped"
}
