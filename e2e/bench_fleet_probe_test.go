package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// The fleet benchmarks time the control plane's API from a process of its
// own, the probe: timed from the process that also runs 500 simulated
// agents, a call's latency was mostly that process's own scheduling and
// garbage collection (its p99 moved 2x between runs of one build). The
// benchmark process itself, which stands for 500 remote hosts, runs at a
// lower CPU priority (fleetNice) than the control plane and the probe,
// which get the CPU first, as they would with real hosts elsewhere.

const (
	probeEnv = "ECS_E2E_FLEET_PROBE"
	// probeDescribeEvery paces the probe's DescribeServices calls (ten
	// services each, in turn); its RunTask calls come every fleetLoadEvery.
	probeDescribeEvery = 100 * time.Millisecond
	// fleetNice is the benchmark process's niceness while its fleet runs.
	fleetNice = 10
)

// probeConfig is what the probe is told, as JSON in probeEnv.
type probeConfig struct {
	Endpoint string
	Cluster  string
	Def      string
	Services []string
}

// probeResult is what the probe prints when its standard input closes.
type probeResult struct {
	RunTask, DescribeServices []time.Duration
	Errors                    int
	FirstError                string
}

// TestE2EFleetProbeHelper is not a test: started by the fleet benchmarks
// with probeEnv set, it calls RunTask and DescribeServices at a steady pace
// until its standard input closes, then prints each call's latency.
func TestE2EFleetProbeHelper(t *testing.T) {
	raw := os.Getenv(probeEnv)
	if raw == "" {
		t.Skip("helper of the fleet benchmarks")
	}
	var cfg probeConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	api := ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  awscreds.NewStaticCredentialsProvider(testCreds.accessKey, testCreds.secretKey, ""),
		HTTPClient:   &http.Client{Transport: ownBodies{http.DefaultTransport}},
		Retryer:      aws.NopRetryer{}, // a retry would hide in the figures
	})
	ctx, stop := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()

	var (
		mu  sync.Mutex
		res probeResult
		wg  sync.WaitGroup
	)
	record := func(into *[]time.Duration, began time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		*into = append(*into, time.Since(began))
		if err != nil && ctx.Err() == nil {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
		}
	}
	every := func(d time.Duration, call func(i int)) {
		defer wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			call(i)
		}
	}
	wg.Add(2)
	go every(fleetLoadEvery, func(int) {
		began := time.Now()
		_, err := api.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cfg.Cluster), TaskDefinition: aws.String(cfg.Def)})
		record(&res.RunTask, began, err)
	})
	go every(probeDescribeEvery, func(i int) {
		from := (i * 10) % len(cfg.Services)
		began := time.Now()
		_, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cfg.Cluster),
			Services: cfg.Services[from:min(from+10, len(cfg.Services))]})
		record(&res.DescribeServices, began, err)
	})
	wg.Wait()
	out, _ := json.Marshal(res)
	fmt.Printf("PROBE %s\n", out)
}

// startProbe starts the probe against the benchmark's cluster; the
// returned function stops it and returns what it measured.
func (fb *fleetBench) startProbe(services []string) func() probeResult {
	b := fb.b
	cfg, _ := json.Marshal(probeConfig{Endpoint: fb.cp.endpoint, Cluster: fb.cluster, Def: fb.def, Services: services})
	cmd := exec.Command(os.Args[0], "-test.run", "^TestE2EFleetProbeHelper$", "-test.count=1", "-test.v")
	cmd.Env = baseEnv(probeEnv+"="+string(cfg), "ECS_TEST_BIN_DIR="+binDir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // a probe left by a failed benchmark
	lines := make(chan string, 1)
	go func() {
		var all []string
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			all = append(all, sc.Text())
		}
		lines <- strings.Join(all, "\n")
	}()
	return func() probeResult {
		_ = stdin.Close()
		out := <-lines
		if err := cmd.Wait(); err != nil {
			b.Fatalf("fleet probe: %v\n%s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if j, ok := strings.CutPrefix(line, "PROBE "); ok {
				var res probeResult
				if err := json.Unmarshal([]byte(j), &res); err != nil {
					b.Fatal(err)
				}
				if res.Errors > 0 {
					b.Fatalf("fleet probe: %d calls failed, the first: %s", res.Errors, res.FirstError)
				}
				return res
			}
		}
		b.Fatalf("fleet probe printed no result:\n%s", out)
		return probeResult{}
	}
}

// lowerOwnPriority sets every thread of this process to niceness nice,
// and the threads it starts later inherit it; the returned function sets
// them back to 0. Linux keeps a niceness per thread, so the process's
// main thread alone would not do.
func lowerOwnPriority(b *testing.B, nice int) (restore func()) {
	b.Helper()
	set := func(n int) {
		tids, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(os.Getpid()), "task"))
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range tids {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && err != syscall.ESRCH {
				b.Fatalf("setpriority %d: %v", tid, err)
			}
		}
	}
	set(nice)
	return func() { set(0) }
}
