package engine

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// convertBound is what converting one task and building its containers'
// create bodies may allocate. The tasks of real payloads need under 35
// bytes per byte of their JSON: the model copies the strings once, each
// dockerConfig overlay is parsed twice (checks, then the create body), and
// each create body is built as maps and encoded. Twice that leaves
// room for denser tasks; the fixed part is the port allocator and names.
var convertBound = fuzzbound.Bound{Fixed: 64 << 10, PerByte: 80}

// dockerNameRE is what Docker accepts as a container or volume name.
var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// refusalKinds are the reasons fromWire may give.
var refusalKinds = []string{kindInvalid, kindDependency, kindNetworkMode}

// FuzzFromWire feeds ACS tasks (the JSON of one element of a
// PayloadMessage's tasks) to the engine's conversion, with privileged
// containers allowed or not. The typed arguments, when set, replace
// members of the decoded task and its first container, so that the
// fuzzer reaches values without having to keep the JSON valid; the sizes
// are shifted left by shift, since Go's fuzzer moves an int by at most 100
// and would never reach the magnitudes where arithmetic overflows. A task is
// either refused with a reason that the backend can show, or converted
// into a model that persists and loads unchanged and whose containers all
// get a Docker create body with a name Docker accepts, the ECS labels and
// the memory the task asked for.
func FuzzFromWire(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte, privilegedDisabled bool,
		family, version, name, image string, memoryMiB, shmMiB int, shift uint8) {
		var wt wire.Task
		if json.Unmarshal(raw, &wt) != nil {
			return // the frame decoder refuses it; FuzzDecode covers that
		}
		override(&wt, family, version, name, image, memoryMiB<<(shift%64), shmMiB<<(shift%64))
		cfg := config.Default()
		cfg.Cluster = "fuzz"
		cfg.AWSRegion = "us-east-1"
		cfg.PrivilegedDisabled = privilegedDisabled

		var tk *task
		var reason string
		size := len(raw) + len(family) + len(version) + len(name) + len(image)
		fuzzbound.Check(t, convertBound, size, func() {
			tk, reason = fromWire(&wt, cfg)
			if reason == "" {
				buildSpecs(t, tk, cfg)
			}
		})
		checkConverted(t, &wt, tk, reason)
		checkPersists(t, tk)
		if reason == "" {
			checkSpecs(t, tk, buildSpecs(t, tk, cfg))
		}
	})
}

// override sets the members the typed arguments give: strings when not
// empty, numbers when not zero. Strings are made valid UTF-8, as the frame
// decoder makes every string it decodes.
func override(wt *wire.Task, family, version, name, image string, memoryMiB, shmMiB int) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	set(&wt.Family, family)
	set(&wt.Version, version)
	if len(wt.Containers) == 0 {
		return
	}
	c := &wt.Containers[0]
	set(&c.Name, name)
	set(&c.Image, image)
	if memoryMiB != 0 {
		c.Memory = memoryMiB
	}
	if shmMiB != 0 {
		if c.LinuxParameters == nil {
			c.LinuxParameters = &wire.LinuxParameters{}
		}
		c.LinuxParameters.SharedMemorySize = &shmMiB
	}
}

func checkConverted(t *testing.T, wt *wire.Task, tk *task, reason string) {
	t.Helper()
	if tk.ARN != wt.ARN || len(tk.Containers) != len(wt.Containers) {
		t.Fatalf("the model lost the task's identity or containers: %q %d != %q %d",
			tk.ARN, len(tk.Containers), wt.ARN, len(wt.Containers))
	}
	if reason == "" {
		switch {
		case wt.ARN == "", wt.DesiredStatus != StatusRunning && wt.DesiredStatus != StatusStopped,
			len(wt.UnknownMembers) > 0, len(wt.Containers) == 0:
			t.Fatalf("accepted a task without an arn, with desired status %q, unknown members %v or no containers",
				wt.DesiredStatus, wt.UnknownMembers)
		}
		return
	}
	kind, _, _ := strings.Cut(reason, ": ")
	if !slices.Contains(refusalKinds, kind) {
		t.Fatalf("reason %q is not one of %v", reason, refusalKinds)
	}
	if len(reason) > 1024 || !utf8.ValidString(reason) {
		t.Fatalf("reason of %d bytes is over 1024 or not UTF-8: %q", len(reason), reason)
	}
}

// checkPersists writes the model's agent.db records and reads them back as
// Engine.load does: what is read encodes into the same bytes.
func checkPersists(t *testing.T, tk *task) {
	t.Helper()
	for _, rec := range tk.records() {
		first, err := json.Marshal(rec.Value)
		if err != nil {
			t.Fatalf("encode %s/%s: %v", rec.Bucket, rec.Key, err)
		}
		var back any = &task{}
		if _, ok := rec.Value.(containerRecord); ok {
			back = &containerRecord{}
		}
		if err := json.Unmarshal(first, back); err != nil {
			t.Fatalf("decode %s/%s %s: %v", rec.Bucket, rec.Key, first, err)
		}
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatalf("re-encode %s/%s: %v", rec.Bucket, rec.Key, err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("%s/%s changed through agent.db:\n%s\n%s", rec.Bucket, rec.Key, first, again)
		}
	}
}

// buildSpecs names every container, picks its host ports and builds its
// create body, as the worker does before it creates the container.
func buildSpecs(t *testing.T, tk *task, cfg *config.Config) map[string]specOut {
	ports, err := newPortAllocator("49153-65535", HostResources{}, func(string, uint16) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{e: &Engine{ports: ports}, t: tk}
	for _, c := range tk.Containers {
		if c.KnownPortBindings, err = w.choosePorts(c); err != nil {
			t.Fatalf("container %q: no host ports for an accepted task: %v", c.Name, err)
		}
		c.DockerName = dockerName(tk, c.Name)
	}
	out := map[string]specOut{}
	for _, c := range tk.Containers {
		spec, err := buildSpec(c, specInput{task: tk, cfg: cfg, ports: c.KnownPortBindings})
		if err != nil {
			t.Fatalf("container %q of an accepted task has no create body: %v", c.Name, err)
		}
		var o specOut
		if err := json.Unmarshal(spec.Config, &o.config); err != nil {
			t.Fatalf("container %q: Config %s is not a JSON object: %v", c.Name, spec.Config, err)
		}
		if err := json.Unmarshal(spec.HostConfig, &o.host); err != nil {
			t.Fatalf("container %q: HostConfig %s is not a JSON object: %v", c.Name, spec.HostConfig, err)
		}
		o.name = spec.Name
		out[c.Name] = o
	}
	return out
}

type specOut struct {
	name         string
	config, host map[string]any
}

func checkSpecs(t *testing.T, tk *task, specs map[string]specOut) {
	t.Helper()
	for _, v := range tk.Volumes {
		if v.DockerName != "" && !dockerNameRE.MatchString(v.DockerName) {
			t.Fatalf("volume %q gets the Docker name %q, which Docker refuses", v.Name, v.DockerName)
		}
	}
	for _, c := range tk.Containers {
		s := specs[c.Name]
		if !dockerNameRE.MatchString(s.name) {
			t.Fatalf("container %q gets the Docker name %q, which Docker refuses", c.Name, s.name)
		}
		labels, _ := s.config["Labels"].(map[string]any)
		for k, want := range map[string]string{LabelTaskARN: tk.ARN, LabelContainerName: c.Name,
			LabelTaskDefFamily: tk.Family, LabelTaskDefVersion: tk.Version, LabelCluster: "fuzz"} {
			if labels[k] != want {
				t.Fatalf("container %q: label %s is %v, not %q", c.Name, k, labels[k], want)
			}
		}
		ov, _ := parseOverlays(c)
		if _, set := lookup(ov.host, "Memory"); !set && c.Memory > 0 {
			if got, _ := s.host["Memory"].(float64); got != float64(int64(c.Memory))*(1<<20) || got <= 0 {
				t.Fatalf("container %q asked for %d MiB; HostConfig.Memory is %v", c.Name, c.Memory, s.host["Memory"])
			}
		}
		if lp := c.LinuxParameters; lp != nil && lp.SharedMemorySize != nil && *lp.SharedMemorySize > 0 {
			if _, set := lookup(ov.host, "ShmSize"); !set {
				if got, _ := s.host["ShmSize"].(float64); got != float64(int64(*lp.SharedMemorySize))*(1<<20) || got <= 0 {
					t.Fatalf("container %q asked for %d MiB of shared memory; HostConfig.ShmSize is %v",
						c.Name, *lp.SharedMemorySize, s.host["ShmSize"])
				}
			}
		}
	}
}
