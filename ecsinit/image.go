package ecsinit

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// tarballManifest is one entry of manifest.json in a `docker save` archive.
type tarballManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
}

// tarballImage reads the image ID ("sha256:<hex>") and tags of the first
// image in a `docker save` archive, without loading it. Docker up to 24
// names the config "<hex>.json"; later versions "blobs/sha256/<hex>".
func tarballImage(file string) (id string, tags []string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", nil, fmt.Errorf("%s: no manifest.json: not a docker save archive", file)
		}
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", file, err)
		}
		if path.Clean(h.Name) != "manifest.json" {
			continue
		}
		var m []tarballManifest
		if err := json.NewDecoder(tr).Decode(&m); err != nil || len(m) == 0 || m[0].Config == "" {
			return "", nil, fmt.Errorf("%s: unreadable manifest.json", file)
		}
		hex := strings.TrimSuffix(path.Base(m[0].Config), ".json")
		return "sha256:" + hex, m[0].RepoTags, nil
	}
}

// ensureImage makes the agent image available: from the cached tarball
// when there is one (loaded only when the local image differs from it), or
// else pulled when it is not present yet.
func (l *Launcher) ensureImage(ctx context.Context, force bool) error {
	cfg := l.Config
	tarball := filepath.Join(cfg.CacheDir, ImageTarball)
	id, tags, err := tarballImage(tarball)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if force {
			return fmt.Errorf("reload-cache: no image tarball at %s", tarball)
		}
		have, err := l.Docker.ImageID(ctx, cfg.Image)
		if err != nil {
			return err
		}
		if have != "" {
			return nil
		}
		l.log().Info("pulling the agent image", logging.KeyImage, cfg.Image)
		if err := l.Docker.PullImage(ctx, cfg.Image); err != nil {
			return fmt.Errorf("pull the agent image (ECS_INIT_AGENT_IMAGE=%s; no tarball at %s): %w", cfg.Image, tarball, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("agent image tarball: %w", err)
	}
	have, err := l.Docker.ImageID(ctx, cfg.Image)
	if err != nil {
		return err
	}
	if have != id || force {
		l.log().Info("loading the agent image", logging.KeyFile, tarball, logging.KeyImage, strings.Join(tags, ","))
		f, err := os.Open(tarball)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := l.Docker.LoadImage(ctx, f); err != nil {
			return fmt.Errorf("load %s: %w", tarball, err)
		}
		if have, err = l.Docker.ImageID(ctx, cfg.Image); err != nil {
			return err
		}
	}
	if have == "" {
		return fmt.Errorf("%s holds %s, not ECS_INIT_AGENT_IMAGE=%s: set ECS_INIT_AGENT_IMAGE to one of its tags",
			tarball, strings.Join(tags, ", "), cfg.Image)
	}
	return nil
}
