package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

// errInactive is the cancel cause set by the inactivity timer, so that the
// read error it provokes can be told apart from the caller's cancellation.
var errInactive = errors.New("pull inactivity timer fired")

// PullImage pulls ref, reading Docker's JSON progress stream to the end:
// the pull is only complete when the stream is, and failures found midway
// arrive inside the stream, not as an HTTP status.
func (c *Client) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) error {
	var po image.PullOptions
	if a := opts.Auth; a != nil {
		// Email is not sent: registries ignore it since API 1.23.
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{
			Username: a.Username, Password: a.Password,
			ServerAddress: a.ServerAddress, IdentityToken: a.IdentityToken,
		})
		if err != nil {
			return fmt.Errorf("pull %s: encode registry credentials: %w", ref, err)
		}
		po.RegistryAuth = enc
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	touch := func() {}
	if d := opts.InactivityTimeout; d > 0 {
		timer := time.AfterFunc(d, func() { cancel(errInactive) })
		defer timer.Stop()
		touch = func() { timer.Reset(d) }
	}
	inactive := func(err error) error {
		if errors.Is(context.Cause(ctx), errInactive) {
			return fmt.Errorf("pull %s: %w: nothing received for %s", ref, runtime.ErrPullInactive, opts.InactivityTimeout)
		}
		return fmt.Errorf("pull %s: %w", ref, classify(err, false))
	}

	body, err := c.c.ImagePull(ctx, ref, po)
	if err != nil {
		return inactive(err)
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return inactive(err)
		}
		touch()
		if msg := m.errorText(); msg != "" {
			return fmt.Errorf("pull %s: %w", ref, classify(errors.New(msg), false))
		}
		if opts.Progress != nil {
			if line := m.line(); line != "" {
				opts.Progress(line)
			}
		}
	}
}

// pullMessage is one object of Docker's pull progress stream.
type pullMessage struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

func (m pullMessage) errorText() string {
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		return m.ErrorDetail.Message
	}
	return m.Error
}

// line renders a message as a short progress line, e.g.
// "a1b2c3: Downloading 12.3MB/40.0MB".
func (m pullMessage) line() string {
	s := m.Status
	if s == "" {
		return ""
	}
	if m.ID != "" {
		s = m.ID + ": " + s
	}
	if p := m.ProgressDetail; p.Total > 0 {
		s += fmt.Sprintf(" %s/%s", humanBytes(p.Current), humanBytes(p.Total))
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// InspectImage describes a local image.
func (c *Client) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	r, err := c.c.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("inspect image %s: %w", ref, classify(err, false))
	}
	return runtime.Image{
		ID: r.ID, RepoTags: r.RepoTags, RepoDigests: r.RepoDigests, Size: r.Size,
		Created: parseDockerTime(r.Created),
	}, nil
}

// RemoveImage removes an image; it fails while a container uses it.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	if _, err := c.c.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, classify(err, false))
	}
	return nil
}
