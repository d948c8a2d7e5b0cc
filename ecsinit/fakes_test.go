package ecsinit

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// fakeIPT keeps rules per table/chain the way iptables lists them.
type fakeIPT struct {
	rules map[string][]string // "table/chain" -> specs joined by spaces
}

func newFakeIPT() *fakeIPT { return &fakeIPT{rules: map[string][]string{}} }

func (f *fakeIPT) key(t, c string) string { return t + "/" + c }

func (f *fakeIPT) Exists(t, c string, spec ...string) (bool, error) {
	return slices.Contains(f.rules[f.key(t, c)], strings.Join(spec, " ")), nil
}

func (f *fakeIPT) Insert(t, c string, pos int, spec ...string) error {
	k := f.key(t, c)
	f.rules[k] = slices.Insert(f.rules[k], pos-1, strings.Join(spec, " "))
	return nil
}

func (f *fakeIPT) Append(t, c string, spec ...string) error {
	k := f.key(t, c)
	f.rules[k] = append(f.rules[k], strings.Join(spec, " "))
	return nil
}

func (f *fakeIPT) Delete(t, c string, spec ...string) error {
	k := f.key(t, c)
	if i := slices.Index(f.rules[k], strings.Join(spec, " ")); i >= 0 {
		f.rules[k] = slices.Delete(f.rules[k], i, i+1)
	}
	return nil
}

func (f *fakeIPT) List(t, c string) ([]string, error) {
	out := []string{"-P " + c + " ACCEPT"}
	for _, r := range f.rules[f.key(t, c)] {
		out = append(out, "-A "+c+" "+r)
	}
	return out, nil
}

// fakeDocker keeps images and one agent container; the container "exits"
// with exitCode when stopped or when exit is closed.
type fakeDocker struct {
	mu       sync.Mutex
	images   map[string]string // ref -> ID
	loadAs   map[string]string // what LoadImage adds
	pullErr  error
	calls    []string
	spec     ContainerSpec
	exitCode int
	exit     chan struct{}
	stopped  bool
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{images: map[string]string{}, exit: make(chan struct{})}
}

func (f *fakeDocker) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeDocker) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeDocker) ImageID(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[ref], nil
}

func (f *fakeDocker) LoadImage(_ context.Context, r io.Reader) error {
	f.record("load")
	_, _ = io.Copy(io.Discard, r)
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.loadAs {
		f.images[k] = v
	}
	return nil
}

func (f *fakeDocker) PullImage(_ context.Context, ref string) error {
	f.record("pull " + ref)
	if f.pullErr != nil {
		return f.pullErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = "sha256:pulled"
	return nil
}

func (f *fakeDocker) RemoveContainer(_ context.Context, name string) error {
	f.record("remove " + name)
	return nil
}

func (f *fakeDocker) CreateContainer(_ context.Context, s ContainerSpec) (string, error) {
	f.record("create " + s.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spec = s
	return "0123456789abcdef", nil
}

func (f *fakeDocker) StartContainer(context.Context, string) error {
	f.record("start")
	return nil
}

func (f *fakeDocker) WaitContainer(ctx context.Context, _ string) (int, error) {
	select {
	case <-f.exit:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.exitCode, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *fakeDocker) StopContainer(_ context.Context, name string, timeout time.Duration) error {
	f.record("stop " + name + " " + timeout.String())
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		close(f.exit)
	}
	return nil
}

func (f *fakeDocker) CopyLogs(ctx context.Context, _ string, stdout, _ io.Writer) error {
	_, _ = io.WriteString(stdout, "agent output\n")
	select {
	case <-f.exit:
	case <-ctx.Done():
	}
	return nil
}
