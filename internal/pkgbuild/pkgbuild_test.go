package pkgbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeInputs writes stand-ins for the binaries and the image archive.
func fakeInputs(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"ecs-agent", "ecs-init", "ecs-controlplane", "image.tar"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755))
	}
	return Options{Version: "1.2.3", Root: repoRoot, BinDir: dir, ImageTar: filepath.Join(dir, "image.tar"),
		MTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestBuild(t *testing.T) {
	out := t.TempDir()
	names, err := Build(fakeInputs(t), out)
	require.NoError(t, err)
	require.Len(t, names, 4)
	joined := strings.Join(names, " ")
	for _, want := range []string{AgentPackage + "_1.2.3_", ControlPlanePackage + "_1.2.3_", AgentPackage + "-1.2.3", ".deb", ".rpm"} {
		assert.Contains(t, joined, want)
	}
	for _, n := range names {
		st, err := os.Stat(n)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(0))
	}
}

// TestInstallStartsNothing: no maintainer scripts, and the settings file
// is a configuration file that upgrades never overwrite.
func TestInstallStartsNothing(t *testing.T) {
	for _, format := range Formats {
		for _, info := range fakeInputs(t).Infos(format, "ecs.config") {
			assert.Empty(t, info.Scripts, "%s %s", info.Name, format)
			for _, c := range info.Contents {
				if strings.HasPrefix(c.Destination, "/etc/") && c.Type != "dir" {
					assert.Equal(t, "config|noreplace", c.Type, c.Destination)
				}
			}
		}
	}
}

func TestBuildNeedsItsInputs(t *testing.T) {
	o := fakeInputs(t)
	o.ImageTar = filepath.Join(t.TempDir(), "missing.tar")
	_, err := Build(o, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make image")
}
