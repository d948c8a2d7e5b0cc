package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-ecs/ecs-agent/internal/pkgbuild"
)

// TestE2EPackages builds the packages from the built binaries and installs
// the .deb into a throwaway root with dpkg, as a user's apt would: the files
// land where the units expect them, /etc/ecs/ecs.config is a conffile that
// an upgrade keeps, the installed ecs-init runs, nothing is started (no
// maintainer scripts), and systemd-analyze verifies every unit against the
// installed tree. rpm -qlp lists the rpm where rpm exists.
func TestE2EPackages(t *testing.T) {
	requireTools(t, "dpkg", "dpkg-deb")
	t.Parallel()
	dir := t.TempDir()
	imageTar := filepath.Join(dir, "image.tar") // the real one is a docker save; its content does not matter here
	writeFile(t, imageTar, "image archive\n")
	build := func(version string) map[string]string {
		t.Helper()
		out := filepath.Join(dir, "dist-"+version)
		names, err := pkgbuild.Build(pkgbuild.Options{Version: version, Root: "..", BinDir: binDir, ImageTar: imageTar}, out)
		if err != nil {
			t.Fatal(err)
		}
		byKind := map[string]string{}
		for _, n := range names {
			kind := "controlplane"
			if strings.Contains(filepath.Base(n), pkgbuild.AgentPackage) {
				kind = "agent"
			}
			byKind[kind+filepath.Ext(n)] = n
		}
		return byKind
	}
	v1 := build("0.1.0")

	root := filepath.Join(dir, "root")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "var/lib/dpkg/status"), "")
	dpkg := func(args ...string) string {
		t.Helper()
		// --force-depends: the throwaway root has no iptables package.
		out, err := exec.Command("dpkg", append([]string{"--root=" + root, "--force-depends"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, deb := range []string{v1["agent.deb"], v1["controlplane.deb"]} {
		info, err := exec.Command("dpkg-deb", "--info", deb).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
		}
		for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
			if strings.Contains(string(info), " "+script+" ") {
				t.Errorf("%s has a %s script: installing must start nothing", filepath.Base(deb), script)
			}
		}
		dpkg("-i", deb)
	}

	for path, mode := range map[string]os.FileMode{
		"usr/bin/ecs-agent": 0o755, "usr/bin/ecs-init": 0o755, "usr/bin/ecs-controlplane": 0o755,
		"usr/lib/systemd/system/ecs.service": 0o644, "usr/lib/systemd/system/ecs-agent.service": 0o644,
		"usr/lib/systemd/system/ecs-controlplane.service": 0o644,
		"etc/ecs/ecs.config":                              0o600, "var/cache/ecs/ecs-agent.tar": 0o644,
		"var/lib/ecs/data": 0o700 | os.ModeDir, "var/log/ecs": 0o700 | os.ModeDir, "etc/ecs-controlplane": 0o700 | os.ModeDir,
		"usr/share/doc/open-ecs-agent/copyright": 0o644, "usr/share/doc/open-ecs-agent/configuration.md": 0o644,
		"usr/share/doc/open-ecs-controlplane/operating.md": 0o644,
	} {
		st, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("not installed: /%s", path)
			continue
		}
		if got := st.Mode() & (os.ModeDir | os.ModePerm); got != mode {
			t.Errorf("/%s has mode %v, want %v", path, got, mode)
		}
	}
	if status := dpkg("-s", pkgbuild.AgentPackage); !strings.Contains(status, "Conffiles:\n /etc/ecs/ecs.config ") {
		t.Errorf("/etc/ecs/ecs.config is not a conffile:\n%s", status)
	}
	out, err := exec.Command(filepath.Join(root, "usr/bin/ecs-init"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ecs-init: ") {
		t.Errorf("the installed ecs-init version: %v\n%s", err, out)
	}

	// An upgrade keeps the operator's settings.
	const mine = "ECS_CLUSTER=mine\n"
	writeFile(t, filepath.Join(root, "etc/ecs/ecs.config"), mine)
	v2 := build("0.2.0")
	dpkg("--force-confold", "-i", v2["agent.deb"])
	if got, _ := os.ReadFile(filepath.Join(root, "etc/ecs/ecs.config")); string(got) != mine {
		t.Errorf("the upgrade replaced /etc/ecs/ecs.config:\n%s", got)
	}
	if status := dpkg("-s", pkgbuild.AgentPackage); !strings.Contains(status, "Version: 0.2.0") {
		t.Errorf("not upgraded:\n%s", status)
	}

	verifyUnits(t, root)

	if _, err := exec.LookPath("rpm"); err == nil {
		list, err := exec.Command("rpm", "-qlp", v1["agent.rpm"]).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qlp: %v\n%s", err, list)
		}
		for _, want := range []string{"/usr/bin/ecs-init", "/usr/lib/systemd/system/ecs.service", pkgbuild.AgentConfig, pkgbuild.AgentImageTar} {
			if !strings.Contains(string(list), want) {
				t.Errorf("the rpm lacks %s:\n%s", want, list)
			}
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("rpm is not installed (scripts/dev-setup.sh installs it): the rpm's file list is not checked")
	} else {
		t.Log("rpm is not installed: the rpm's file list is not checked")
	}
}

// verifyUnits runs systemd-analyze verify on every unit against root, which
// holds the installed packages plus the host's own units (docker.service,
// the targets); the fleet unit's commands come from CoreOS, so stand-ins
// are put at their paths. verify fails when a unit runs a command that is
// not there.
func verifyUnits(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the units are not verified")
		return
	}
	unitDir := filepath.Join(root, "usr/lib/systemd/system")
	if out, err := exec.Command("cp", "-an", "/lib/systemd/system/.", unitDir).CombinedOutput(); err != nil {
		t.Fatalf("copying the host's units: %v\n%s", err, out)
	}
	for _, stub := range []string{"usr/bin/docker", "bin/sh", "bin/mkdir"} {
		p := filepath.Join(root, stub)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, "#!/bin/sh\n")
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fleet := filepath.Join(unitDir, "ecs-agent-fleet.service")
	data, err := os.ReadFile("../scripts/fleet/ecs-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fleet, string(data))
	if _, err := os.Stat(filepath.Join(unitDir, "docker.service")); err != nil {
		// verify needs the unit ecs.service requires; the host has none.
		writeFile(t, filepath.Join(unitDir, "docker.service"), "[Service]\nExecStart=/usr/bin/docker\n")
	}
	for _, u := range []string{"ecs.service", "ecs-agent.service", "ecs-controlplane.service", "ecs-agent-fleet.service"} {
		out, err := exec.Command("systemd-analyze", "verify", "--root="+root, filepath.Join(unitDir, u)).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
}
