package images

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// ImageState is what the agent remembers about one image it pulled or
// used, persisted in statemanager.BucketImages under the image ID.
type ImageState struct {
	ImageID       string
	Names         []string // normalised references that point at the image
	Size          int64
	PulledAt      time.Time // last successful pull (or first use of a cached image)
	LastUsedAt    time.Time // last time a container started or stopped using it
	PullSucceeded bool      // a pull of this image succeeded at least once
}

// stateJSON is the stored layout (reference §8.1): the identity nests
// under "Image", the rest sits beside it.
type stateJSON struct {
	Image struct {
		ImageID string
		Names   []string
		Size    int64
	}
	PulledAt      time.Time
	LastUsedAt    time.Time
	PullSucceeded bool
}

// MarshalJSON writes the stored layout.
func (s ImageState) MarshalJSON() ([]byte, error) {
	var j stateJSON
	j.Image.ImageID, j.Image.Names, j.Image.Size = s.ImageID, s.Names, s.Size
	j.PulledAt, j.LastUsedAt, j.PullSucceeded = s.PulledAt, s.LastUsedAt, s.PullSucceeded
	return json.Marshal(j)
}

// UnmarshalJSON reads the stored layout.
func (s *ImageState) UnmarshalJSON(b []byte) error {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = ImageState{
		ImageID: j.Image.ImageID, Names: j.Image.Names, Size: j.Image.Size,
		PulledAt: j.PulledAt, LastUsedAt: j.LastUsedAt, PullSucceeded: j.PullSucceeded,
	}
	return nil
}

func (s *ImageState) clone() ImageState {
	c := *s
	c.Names = slices.Clone(s.Names)
	return c
}

// dockerHubPrefixes are the spellings of Docker Hub in a reference.
var dockerHubPrefixes = []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"}

// Normalize gives one spelling to the references Docker treats as the same
// image: "busybox", "busybox:latest" and "docker.io/library/busybox:latest"
// all become "busybox:latest". Digest references are kept as they are.
func Normalize(ref string) string {
	for _, p := range dockerHubPrefixes {
		if strings.HasPrefix(ref, p) {
			ref = strings.TrimPrefix(ref, p)
			break
		}
	}
	if strings.Contains(ref, "@") {
		return ref
	}
	if last := ref[strings.LastIndex(ref, "/")+1:]; !strings.Contains(last, ":") {
		ref += ":latest"
	}
	return ref
}

// RegistryHost returns the registry an image reference points at:
// "127.0.0.1:5000" for "127.0.0.1:5000/app:1", "docker.io" for "busybox".
func RegistryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return "docker.io"
	}
	return canonicalHost(first)
}

// canonicalHost folds the aliases of Docker Hub into "docker.io".
func canonicalHost(h string) string {
	switch strings.ToLower(h) {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return strings.ToLower(h)
}
