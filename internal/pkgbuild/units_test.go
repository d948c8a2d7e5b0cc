package pkgbuild

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const repoRoot = "../.."

// osCommands are the commands units run that the operating system provides,
// with where it puts them.
var osCommands = map[string]string{
	"/usr/bin/docker": "CoreOS Container Linux and Debian's docker.io",
	"/bin/sh":         "every Linux distribution",
	"/bin/mkdir":      "every Linux distribution",
}

// unit is a parsed unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := unit{}
	section := ""
	var cont string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s: %q", path, line)
			u[section][k] = append(u[section][k], v)
		}
	}
	require.NoError(t, sc.Err())
	return u
}

// commands returns the executables of every Exec line, without the
// "-", "@", "+", "!" and ":" prefixes.
func (u unit) commands() []string {
	var out []string
	for _, k := range []string{"ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload"} {
		for _, v := range u["Service"][k] {
			f := strings.Fields(v)
			if len(f) > 0 {
				out = append(out, strings.TrimLeft(f[0], "-@+!:"))
			}
		}
	}
	return out
}

func allUnits(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"scripts/systemd", "scripts/fleet"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.service"))
		require.NoError(t, err)
		out = append(out, m...)
	}
	require.Len(t, out, 4, "ecs.service, ecs-agent.service, ecs-controlplane.service and the fleet unit")
	return out
}

// TestUnitsRunInstalledCommands: every command a unit runs is either one
// the packages install, at that path, or one the operating system provides.
func TestUnitsRunInstalledCommands(t *testing.T) {
	var installed []string
	o := Options{Root: repoRoot, BinDir: "bin", ImageTar: "image.tar"}
	for _, info := range o.Infos("deb", "ecs.config") {
		for _, c := range info.Contents {
			installed = append(installed, c.Destination)
		}
	}
	for _, path := range allUnits(t) {
		u := readUnit(t, path)
		cmds := u.commands()
		require.NotEmpty(t, cmds, path)
		for _, cmd := range cmds {
			if strings.Contains(filepath.Base(cmd), "ecs") {
				assert.Contains(t, installed, cmd, "%s runs %s, which no package installs there", path, cmd)
			} else {
				assert.Contains(t, osCommands, cmd, "%s runs %s: not a known system command path", path, cmd)
			}
		}
		if !strings.Contains(path, "fleet") {
			base := filepath.Base(path)
			assert.Contains(t, installed, UnitDir+"/"+base, "the packages install %s", base)
		}
	}
}

// TestECSServiceIsTheInitService: the ecs unit runs ecs-init the way the
// incumbent's init service does.
func TestECSServiceIsTheInitService(t *testing.T) {
	u := readUnit(t, filepath.Join(repoRoot, "scripts/systemd/ecs.service"))
	s := u["Service"]
	assert.Equal(t, []string{"/usr/bin/ecs-init pre-start"}, s["ExecStartPre"])
	assert.Equal(t, []string{"/usr/bin/ecs-init start"}, s["ExecStart"])
	assert.Equal(t, []string{"/usr/bin/ecs-init stop"}, s["ExecStop"])
	assert.Equal(t, []string{"/usr/bin/ecs-init post-stop"}, s["ExecStopPost"])
	assert.Equal(t, []string{"on-failure"}, s["Restart"])
	assert.Equal(t, []string{"5"}, s["RestartPreventExitStatus"])
	assert.Equal(t, []string{"docker.service"}, u["Unit"]["Requires"])
	assert.Contains(t, u["Unit"]["After"][0], "docker.service")
	assert.Equal(t, []string{"amazon-ecs.service"}, u["Install"]["Alias"], "SLES's name for the service")
}

// TestFleetUnit: a global unit that replaces the old container and runs the
// image with the socket, the published introspection port and the three
// settings the how-to names.
func TestFleetUnit(t *testing.T) {
	u := readUnit(t, filepath.Join(repoRoot, "scripts/fleet/ecs-agent.service"))
	assert.Equal(t, []string{"true"}, u["X-Fleet"]["Global"])
	s := u["Service"]
	assert.Contains(t, s["ExecStartPre"], "-/usr/bin/docker kill ecs-agent")
	assert.Contains(t, s["ExecStartPre"], "-/usr/bin/docker rm ecs-agent")
	env := strings.Join(s["Environment"], " ")
	run := s["ExecStart"][0]
	for _, k := range []string{"ECS_CLUSTER", "ECS_LOGLEVEL", "AWS_REGION"} {
		assert.Contains(t, env, k+"=")
		assert.Contains(t, run, "-e "+k+"=${"+k+"}")
	}
	for _, want := range []string{"-v /var/run/docker.sock:/var/run/docker.sock", "-p 127.0.0.1:51678:51678", "--name ecs-agent"} {
		assert.Contains(t, run, want)
	}
	assert.True(t, slices.ContainsFunc(s["ExecStartPre"], func(v string) bool {
		return strings.Contains(v, "docker load") && strings.Contains(v, AgentImageTar) && strings.Contains(v, "docker pull")
	}), "loads the cached image or pulls it")
}
