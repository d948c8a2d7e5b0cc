package e2e

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stateFile is the agent's agent.db.
func (a *agent) stateFile() string { return filepath.Join(a.dataDir, "agent.db") }

// awaitTerminalExit waits for the agent to exit and requires exit code 5
// (terminal: ecs-init and systemd do not restart it) and output that names
// the state file and what to do.
func (a *agent) awaitTerminalExit(t *testing.T, why string) {
	t.Helper()
	waitFor(t, 60*time.Second, "the agent to exit", a.proc.exited)
	var exit *exec.ExitError
	if !errors.As(a.proc.err, &exit) || exit.ExitCode() != 5 {
		t.Fatalf("agent exit = %v, want exit code 5\n%s", a.proc.err, a.proc.out.String())
	}
	out := a.proc.out.String()
	for _, want := range []string{a.stateFile(), why, "move the file away", "registers as a new container instance"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "goroutine ") {
		t.Errorf("the agent printed a stack trace:\n%s", out)
	}
}

// TestE2EEmptyStateFileIsTerminal: a zero-byte agent.db (a full disk, a
// copy gone wrong) stops the agent with exit 5 and a message. It used to
// be taken as a new file: a second container instance, every task on the
// host forgotten while its containers kept running.
func TestE2EEmptyStateFileIsTerminal(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	cp := startControlPlane(t)
	cluster := uniqueName(t)
	cp.createCluster(t, cluster)
	a := newAgent(t, cp, cluster)
	if err := os.MkdirAll(a.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a.stateFile(), "")

	a.start(t)
	a.awaitTerminalExit(t, "empty")
	if got := cp.instances(t, cluster); len(got) != 0 {
		t.Errorf("the agent registered %d container instance(s); it must not register with an empty agent.db", len(got))
	}
	if fi, err := os.Stat(a.stateFile()); err != nil || fi.Size() != 0 {
		t.Errorf("agent.db was changed: %v, %v", fi, err)
	}
}

// TestE2ECorruptStateFileIsTerminal: an agent.db whose meta pages are
// intact but one of whose pages in use is scribbled over stops the agent
// with exit 5 and a message, and the agent does not register a new
// instance. A damaged freelist page used to make bbolt panic inside Open:
// exit 2, a bare stack trace, and a restart loop under systemd.
func TestE2ECorruptStateFileIsTerminal(t *testing.T) {
	requireTools(t, "docker", "aws")
	t.Parallel()
	for _, pageType := range []string{"leaf", "freelist"} {
		t.Run(pageType, func(t *testing.T) {
			cp := startControlPlane(t)
			cluster := uniqueName(t)
			cp.createCluster(t, cluster)
			a := newAgent(t, cp, cluster)
			a.start(t)
			md := a.awaitMetadata(t)
			cp.awaitInstance(t, cluster, "the agent to connect", func(ci containerInstance) bool { return ci.AgentConnected })
			a.stop(t, syscall.SIGTERM)

			page := scribblePage(t, a.stateFile(), pageType)
			t.Logf("scribbled over %s page %d of %s", pageType, page, a.stateFile())
			damaged, err := os.ReadFile(a.stateFile())
			if err != nil {
				t.Fatal(err)
			}

			a.start(t)
			a.awaitTerminalExit(t, "state file is corrupt")
			list := cp.instances(t, cluster)
			if len(list) != 1 || list[0].ContainerInstanceArn != md.ContainerInstanceArn {
				t.Errorf("container instances = %+v, want only %s", list, md.ContainerInstanceArn)
			}
			if after, err := os.ReadFile(a.stateFile()); err != nil || !bytes.Equal(after, damaged) {
				t.Errorf("agent.db was changed after the refusal (%v)", err)
			}
		})
	}
}

// scribblePage writes random bytes over the first page of pageType ("leaf",
// "branch", "freelist") of the bbolt file at path, leaving its meta pages
// intact, and returns the page's number.
func scribblePage(t *testing.T, path, pageType string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	page, size := -1, 0
	err = db.View(func(tx *bolt.Tx) error {
		size = tx.DB().Info().PageSize
		for id := 2; page < 0; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type == pageType {
				page = id
			}
		}
		return nil
	})
	_ = db.Close()
	if err != nil || page < 0 {
		t.Fatalf("no %s page in %s: %v", pageType, path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(page), 1))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, int64(page*size)); err != nil {
		t.Fatal(err)
	}
	return page
}
