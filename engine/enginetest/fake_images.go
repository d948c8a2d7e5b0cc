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

// PullImage pulls ref from the fake registry.
func (f *Fake) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) error {
	f.mu.Lock()
	if err := f.enter(ctx, "PullImage"); err != nil {
		f.mu.Unlock()
		return err
	}
	norm := normalizeRef(ref)
	img, ok := f.registry[norm]
	gate := f.pullGate
	f.mu.Unlock()

	progress := func(s string) {
		if opts.Progress != nil {
			opts.Progress(s)
		}
	}
	progress("Pulling from " + norm)
	if !ok {
		return fmt.Errorf("pull %s: %w: manifest for %s not found: manifest unknown", ref, runtime.ErrNotFound, norm)
	}
	if a := img.auth; a != nil && (opts.Auth == nil || opts.Auth.Username != a.Username || opts.Auth.Password != a.Password) {
		return fmt.Errorf("pull %s: %w: unauthorized: authentication required", ref, runtime.ErrAuth)
	}
	if gate != nil {
		if err := f.waitGate(ctx, gate, opts.InactivityTimeout); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	progress("Pull complete")

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
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "InspectImage"); err != nil {
		return runtime.Image{}, err
	}
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

// RemoveImage removes a tag, or the whole image when given its ID or its
// last tag. It fails while a container (running or not) uses the image.
func (f *Fake) RemoveImage(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx, "RemoveImage"); err != nil {
		return err
	}
	img := f.findImage(ref)
	if img == nil {
		return notFound("no such image: %s", ref)
	}
	norm := normalizeRef(ref)
	untagOnly := slices.Contains(img.RepoTags, norm) && len(img.RepoTags) > 1
	if !untagOnly {
		for _, c := range f.containers {
			if c.c.ImageID == img.ID {
				return fmt.Errorf("conflict: unable to remove %s: image is being used by container %s", ref, c.c.ID[:12])
			}
		}
	}
	if untagOnly {
		img.RepoTags = slices.DeleteFunc(img.RepoTags, func(t string) bool { return t == norm })
		delete(f.tags, norm)
		return nil
	}
	for _, t := range img.RepoTags {
		delete(f.tags, t)
	}
	delete(f.images, img.ID)
	return nil
}
