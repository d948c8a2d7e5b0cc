package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkE2EAgentStartToConnected measures, with the real binaries, the
// time from starting ecs-agent with an empty data directory to its ACS
// session being up: Docker check, identity (no IMDS), registration and the
// websocket handshake. It also reports the agent's resident memory once idle
// and connected, and the control plane's.
func BenchmarkE2EAgentStartToConnected(b *testing.B) {
	requireTools(b, "docker", "aws")
	cp := startControlPlane(b)
	cp.createCluster(b, "bench")
	var rssKB, n int64
	for b.Loop() {
		a := newAgent(b, cp, "bench", "ECS_LOGLEVEL=info")
		a.start(b)
		// Poll finely here: waitFor's 100 ms step would dominate the figure.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(a.proc.out.String(), "connected to ACS"); {
			if time.Now().After(deadline) || a.proc.exited() {
				b.Fatalf("no ACS session within 30 s:\n%s", a.proc.out)
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		rssKB += vmRSSKB(b, a.proc.cmd.Process.Pid)
		n++
		a.stop(b, syscall.SIGTERM)
		b.StartTimer()
	}
	b.ReportMetric(float64(rssKB)/float64(n)/1024, "agent-RSS-MiB")
	b.ReportMetric(float64(vmRSSKB(b, cp.proc.cmd.Process.Pid))/1024, "controlplane-RSS-MiB")
}

// vmRSSKB reads a process's resident set size from /proc.
func vmRSSKB(tb testing.TB, pid int) int64 {
	tb.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(fmt.Errorf("VmRSS %q: %w", rest, err))
			}
			return kb
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
