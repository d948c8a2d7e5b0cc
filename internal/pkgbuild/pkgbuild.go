// Package pkgbuild builds the .deb and .rpm packages of the agent and the
// control plane with nfpm, used as a library (make package runs it through
// scripts/package). Installing a package starts nothing: there are no
// maintainer scripts; the operator enables the unit they choose.
package pkgbuild

import (
	_ "embed" // the default ecs.config
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Package names. They differ from Amazon's ecs-init package, which they
// conflict with: both ship ecs.service.
const (
	AgentPackage        = "open-ecs-agent"
	ControlPlanePackage = "open-ecs-controlplane"
)

// Where the packages install things; the units name these paths.
const (
	BinDir        = "/usr/bin"
	UnitDir       = "/usr/lib/systemd/system"
	AgentConfig   = "/etc/ecs/ecs.config"
	AgentImageTar = "/var/cache/ecs/ecs-agent.tar"
)

// Formats are the package formats Build makes.
var Formats = []string{"deb", "rpm"}

//go:embed ecs.config
var defaultAgentConfig []byte

// Options say what goes into the packages.
type Options struct {
	Version  string // semantic version, e.g. 0.1.0
	Arch     string // Go architecture name; runtime.GOARCH when empty
	Root     string // the repository checkout (units, LICENSE)
	BinDir   string // holds ecs-agent, ecs-init and ecs-controlplane
	ImageTar string // `docker save` of the agent image, for hosts without a registry
	// MTime is the files' modification time; a fixed one makes builds
	// reproducible (zero: now).
	MTime time.Time
}

func (o Options) file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
}

func (o Options) dir(dst string, mode os.FileMode) *files.Content {
	return &files.Content{Destination: dst, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
}

// agentContents: the agent, ecs-init, both ways to run them under systemd
// (ecs.service through ecs-init, ecs-agent.service directly), the settings
// file as a configuration file, the state, log and cache directories and
// the agent image.
func (o Options) agentContents(configFile string) files.Contents {
	root, bin := o.Root, o.BinDir
	return files.Contents{
		o.file(filepath.Join(bin, "ecs-agent"), BinDir+"/ecs-agent", 0o755),
		o.file(filepath.Join(bin, "ecs-init"), BinDir+"/ecs-init", 0o755),
		o.file(filepath.Join(root, "scripts/systemd/ecs.service"), UnitDir+"/ecs.service", 0o644),
		o.file(filepath.Join(root, "scripts/systemd/ecs-agent.service"), UnitDir+"/ecs-agent.service", 0o644),
		// Mode 0600: it may hold credentials. Never overwritten on upgrade.
		{Source: configFile, Destination: AgentConfig, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o600, Owner: "root", Group: "root"}},
		o.dir("/etc/ecs", 0o755),
		o.dir("/var/lib/ecs", 0o755),
		o.dir("/var/lib/ecs/data", 0o700),
		o.dir("/var/log/ecs", 0o700),
		o.dir("/var/cache/ecs", 0o755),
		o.file(o.ImageTar, AgentImageTar, 0o644),
		o.file(filepath.Join(root, "LICENSE"), "/usr/share/doc/"+AgentPackage+"/copyright", 0o644),
		// ecs.config's comments point here for the list of settings.
		o.file(filepath.Join(root, "docs/configuration.md"), "/usr/share/doc/"+AgentPackage+"/configuration.md", 0o644),
		o.file(filepath.Join(root, "docs/deploy-init.md"), "/usr/share/doc/"+AgentPackage+"/deploy-init.md", 0o644),
	}
}

func (o Options) controlPlaneContents() files.Contents {
	return files.Contents{
		o.file(filepath.Join(o.BinDir, "ecs-controlplane"), BinDir+"/ecs-controlplane", 0o755),
		o.file(filepath.Join(o.Root, "scripts/systemd/ecs-controlplane.service"), UnitDir+"/ecs-controlplane.service", 0o644),
		// The API credentials file goes here (see docs/operating.md).
		o.dir("/etc/ecs-controlplane", 0o700),
		o.file(filepath.Join(o.Root, "LICENSE"), "/usr/share/doc/"+ControlPlanePackage+"/copyright", 0o644),
		// The unit's comment points here for the credentials file.
		o.file(filepath.Join(o.Root, "docs/operating.md"), "/usr/share/doc/"+ControlPlanePackage+"/operating.md", 0o644),
	}
}

func (o Options) info(name, desc string, contents files.Contents) *nfpm.Info {
	return &nfpm.Info{
		Name:        name,
		Arch:        o.Arch,
		Platform:    "linux",
		Version:     o.Version,
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "Open ECS Agent maintainers <open-ecs@users.noreply.github.com>",
		Description: desc,
		Vendor:      "Open ECS",
		Homepage:    "https://github.com/open-ecs/ecs-agent",
		License:     "Apache-2.0",
		MTime:       o.MTime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
		},
	}
}

// Infos returns the package descriptions for one format: the agent's and
// the control plane's. Docker's package names differ between distributions,
// so the agent only recommends it.
func (o Options) Infos(format string, configFile string) []*nfpm.Info {
	agent := o.info(AgentPackage, "Amazon ECS-compatible container agent and its ecs-init launcher\n"+
		"Runs ECS tasks on this Docker host for Amazon ECS or an Open ECS control plane.\n"+
		"Enable ecs.service (ecs-init, the agent in a container) or ecs-agent.service (the binary).",
		o.agentContents(configFile))
	agent.Depends = []string{"iptables"}
	agent.Conflicts = []string{"ecs-init", "amazon-ecs-init"}
	switch format {
	case "deb":
		agent.Recommends = []string{"docker.io | docker-ce"}
	case "rpm":
		agent.Recommends = []string{"docker"}
	}
	cp := o.info(ControlPlanePackage, "Open ECS control plane: the ECS API and the ACS endpoint for ECS agents\n"+
		"A small, real ECS backend for private clouds and offline development.", o.controlPlaneContents())
	return []*nfpm.Info{agent, cp}
}

// Build writes every package of every format into outDir and returns the
// file names.
func Build(o Options, outDir string) ([]string, error) {
	if o.Arch == "" {
		o.Arch = goarch()
	}
	if o.Version == "" {
		return nil, fmt.Errorf("pkgbuild: a version is required")
	}
	for _, f := range []string{filepath.Join(o.BinDir, "ecs-agent"), filepath.Join(o.BinDir, "ecs-init"),
		filepath.Join(o.BinDir, "ecs-controlplane"), o.ImageTar} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("pkgbuild: %w (run make build and make image first)", err)
		}
	}
	tmp, err := os.MkdirTemp("", "pkgbuild")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	configFile := filepath.Join(tmp, "ecs.config")
	if err := os.WriteFile(configFile, defaultAgentConfig, 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, format := range Formats {
		packager, err := nfpm.Get(format)
		if err != nil {
			return nil, err
		}
		for _, info := range o.Infos(format, configFile) {
			name, err := buildOne(packager, format, info, outDir)
			if err != nil {
				return nil, fmt.Errorf("pkgbuild: %s %s: %w", info.Name, format, err)
			}
			out = append(out, name)
		}
	}
	return out, nil
}

func buildOne(packager nfpm.Packager, format string, info *nfpm.Info, outDir string) (string, error) {
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	name := filepath.Join(outDir, packager.ConventionalFileName(info))
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	return name, f.Close()
}
