package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
)

// acsModel is the part of acs-api-2.json the member tests read.
type acsModel struct {
	Shapes map[string]struct {
		Type    string `json:"type"`
		Members map[string]struct {
			Shape string `json:"shape"`
		} `json:"members"`
		Member *struct {
			Shape string `json:"shape"`
		} `json:"member"`
		Value *struct {
			Shape string `json:"shape"`
		} `json:"value"`
		Enum []string `json:"enum"`
	} `json:"shapes"`
}

// loadACSModel reads the ACS model: $ACS_MODEL, or the shared protocol
// documents beside the checkout. Without it the test skips, except under
// CI=true, where it fails: the walk is what keeps a new member from being
// dropped quietly.
func loadACSModel(t *testing.T) acsModel {
	t.Helper()
	for _, p := range []string{os.Getenv("ACS_MODEL"), "../../shared/protocol/acs-api-2.json", "/work/shared/protocol/acs-api-2.json"} {
		if p == "" {
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m acsModel
		require.NoError(t, json.Unmarshal(raw, &m))
		return m
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the ACS model acs-api-2.json is missing; set ACS_MODEL")
	}
	t.Skip("the ACS model acs-api-2.json is not available; set ACS_MODEL")
	return acsModel{}
}

// structOf returns the structure shape a member of shape ref holds, through
// lists and maps, or "".
func (m acsModel) structOf(ref string) string {
	s := m.Shapes[ref]
	switch {
	case s.Type == "structure":
		return ref
	case s.Type == "list" && s.Member != nil:
		return m.structOf(s.Member.Shape)
	case s.Type == "map" && s.Value != nil:
		return m.structOf(s.Value.Shape)
	}
	return ""
}

// TestACSMembersMatchModel walks every shape reachable from Task through the
// members the agent acts on or reads, and fails when a member of the model
// is in no table (acted on, informational or refused) or a table names a
// member the model lacks.
func TestACSMembersMatchModel(t *testing.T) {
	m := loadACSModel(t)
	seen := map[string]bool{}
	queue := []string{"Task"}
	for len(queue) > 0 {
		shape := queue[0]
		queue = queue[1:]
		if seen[shape] {
			continue
		}
		seen[shape] = true
		table, ok := acsMembers[shape]
		if !assert.True(t, ok, "shape %s is reachable from Task through members the agent reads, but acsMembers has no table for it", shape) {
			continue
		}
		var model []string
		for name, ref := range m.Shapes[shape].Members {
			model = append(model, name)
			use, ok := table[name]
			assert.True(t, ok, "%s.%s is in the ACS model but not in acsMembers: decide whether the agent acts on it or refuses it", shape, name)
			if inner := m.structOf(ref.Shape); inner != "" && use != useRefused {
				queue = append(queue, inner)
			}
		}
		for name := range table {
			assert.Contains(t, model, name, "acsMembers[%s] names %s, which the ACS model does not have", shape, name)
		}
	}
	for shape := range acsMembers {
		assert.True(t, seen[shape], "acsMembers has a table for %s, which is not reachable from Task", shape)
	}

	// Every refused member of the three big shapes has a check, and only those.
	refusedIn := func(shape string) []string {
		var out []string
		for name, use := range acsMembers[shape] {
			if use == useRefused {
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, refusedIn("Task"), refusalNames(taskRefusals))
	assert.Equal(t, refusedIn("Container"), refusalNames(containerRefusals))
	assert.Equal(t, refusedIn("Volume"), refusalNames(volumeRefusals))
	for shape, table := range acsMembers {
		if shape == "Task" || shape == "Container" || shape == "Volume" {
			continue
		}
		for name, use := range table {
			assert.NotEqual(t, useRefused, use, "%s.%s: a nested member is refused through its parent; mark the parent refused", shape, name)
		}
	}
}

func refusalNames[T any](rs []refusal[T]) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.member)
	}
	sort.Strings(out)
	return out
}

// sample is a JSON value of shape ref that uses it: non-empty, true, or an
// object with every member set.
func (m acsModel) sample(ref string, depth int) any {
	s := m.Shapes[ref]
	switch s.Type {
	case "structure":
		obj := map[string]any{}
		if depth < 3 {
			for name, mem := range s.Members {
				obj[name] = m.sample(mem.Shape, depth+1)
			}
		}
		return obj
	case "list":
		return []any{m.sample(s.Member.Shape, depth+1)}
	case "map":
		return map[string]any{"k": m.sample(s.Value.Shape, depth+1)}
	case "boolean":
		return true
	case "integer", "long", "double":
		return 1
	case "string":
		if len(s.Enum) > 0 {
			return s.Enum[0]
		}
		return "x"
	}
	panic("sample: unhandled shape type " + s.Type)
}

// decodedTask runs a task through the real decoder, as a payload arrives.
func decodedTask(t *testing.T, task map[string]any) *wire.Task {
	t.Helper()
	frame, err := json.Marshal(map[string]any{"type": "PayloadMessage", "message": map[string]any{"messageId": "m", "tasks": []any{task}}})
	require.NoError(t, err)
	msg, err := wire.Decode(frame)
	require.NoError(t, err)
	return &msg.(*wire.PayloadMessage).Tasks[0]
}

func validTaskJSON() map[string]any {
	return map[string]any{
		"arn": arn("members"), "family": "fam", "version": "1", "desiredStatus": StatusRunning,
		"containers": []any{map[string]any{"name": "app", "image": testImage, "essential": true, "memory": 64}},
		"volumes":    []any{map[string]any{"name": "data", "type": "host", "host": map[string]any{}}},
	}
}

// TestEveryRefusedMemberStopsTheTask sets each refused member, with a value
// built from the model, on an otherwise valid task and checks that the task
// is refused with a reason naming the member.
func TestEveryRefusedMemberStopsTheTask(t *testing.T) {
	m := loadACSModel(t)
	base := validTaskJSON()
	_, reason := fromWire(decodedTask(t, base), config.Default())
	require.Empty(t, reason, "the base task is valid")

	for _, shape := range []string{"Task", "Container", "Volume"} {
		for name, use := range acsMembers[shape] {
			if use != useRefused {
				continue
			}
			t.Run(shape+"."+name, func(t *testing.T) {
				task := validTaskJSON()
				value := m.sample(m.Shapes[shape].Members[name].Shape, 0)
				subject := "the task"
				switch shape {
				case "Task":
					task[name] = value
				case "Container":
					task["containers"].([]any)[0].(map[string]any)[name] = value
					subject = `container "app"`
				case "Volume":
					task["volumes"].([]any)[0].(map[string]any)[name] = value
					subject = `volume "data"`
				}
				wt := decodedTask(t, task)
				require.Empty(t, wt.UnknownMembers)
				_, reason := fromWire(wt, config.Default())
				assert.True(t, strings.HasPrefix(reason, kindInvalid+": "), reason)
				assert.Contains(t, reason, fmt.Sprintf("%s uses %s", subject, name))
				assert.Contains(t, reason, "which this agent does not support")
			})
		}
	}
}

// Members the agent acts on or reads never read as refused.
func TestUsedMembersAreNotRefused(t *testing.T) {
	task := decodedTask(t, validTaskJSON())
	task.Group, task.ServiceName, task.Zone, task.LaunchType = "g", "s", "z", "EC2"
	task.Overrides, task.TaskDefinitionAccountID = "{}", "123456789012"
	task.Containers[0].ContainerARN = "arn:c"
	task.Containers[0].DockerConfig = &wire.DockerConfig{Version: "1.17"}
	assert.Empty(t, unsupportedMembers(task))
}

func TestUnknownMembersStopTheTask(t *testing.T) {
	task := validTaskJSON()
	task["gpuIds"] = []string{"0"}
	task["containers"].([]any)[0].(map[string]any)["versionConsistency"] = "enabled"
	_, reason := fromWire(decodedTask(t, task), config.Default())
	assert.Equal(t, kindInvalid+": the task has members this agent does not know (containers[0].versionConsistency, gpuIds); "+
		"it refuses the task rather than run it without them", reason)

	many := validTaskJSON()
	for i := range 12 {
		many[fmt.Sprintf("extra%02d", i)] = i
	}
	_, reason = fromWire(decodedTask(t, many), config.Default())
	assert.Contains(t, reason, "extra09 and 2 more")
}

// Several refused members are all named, so one fix covers them.
func TestRefusalNamesEveryMember(t *testing.T) {
	wt := newTask("many", "app")
	wt.RoleCredentials = &wire.IAMRoleCredentials{CredentialsID: "c", SecretAccessKey: "never-in-a-reason"}
	wt.Containers[0].Secrets = []wire.Secret{{Name: "DB", ValueFrom: "arn:aws:ssm:us-west-2:1:parameter/db"}}
	wt.Containers[0].EnvironmentFiles = []wire.EnvironmentFile{{Type: "s3", Value: "arn:aws:s3:::b/f.env"}}
	wt.Volumes = []wire.Volume{{Name: "efs", Type: "efs", EFSVolumeConfiguration: &wire.EFSVolumeConfiguration{FileSystemID: "fs-1"}}}
	_, reason := fromWire(wt, config.Default())
	assert.Equal(t, kindInvalid+`: container "app" uses environmentFiles, which this agent does not support; `+
		`container "app" uses secrets, which this agent does not support; `+
		`volume "efs" uses efsVolumeConfiguration, which this agent does not support`, reason)
	assert.NotContains(t, reason, "never-in-a-reason")
}

// The refused task is reported STOPPED with the reason, and nothing is
// pulled or created for it.
func TestRefusedTaskCreatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("secrets", "app")
		task.Containers[0].Secrets = []wire.Secret{{Name: "DB", ValueFrom: "arn:aws:secretsmanager:us-west-2:1:secret:db"}}
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Equal(t, `InvalidTaskError: container "app" uses secrets, which this agent does not support`, r.Reason)
		assert.Zero(t, h.rt.Calls("CreateContainer"))
		assert.Empty(t, h.rt.Containers())
		assert.Zero(t, h.rt.Calls("PullImage"))
	})
}

// TestInvalidTaskFields: the task-level values every payload must get
// right; such tasks used to run.
func TestInvalidTaskFields(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*wire.Task)
		want   string
	}{
		"unknown desired status": {func(t *wire.Task) { t.DesiredStatus = "CREATED" }, `desiredStatus "CREATED" is not RUNNING or STOPPED`},
		"no desired status":      {func(t *wire.Task) { t.DesiredStatus = "" }, `desiredStatus "" is not RUNNING or STOPPED`},
		"negative task cpu":      {func(t *wire.Task) { t.CPU = -0.5 }, "task cpu -0.5 vCPU is not in 0-"},
		"huge task cpu":          {func(t *wire.Task) { t.CPU = 1e300 }, "task cpu 1e+300 vCPU is not in 0-"},
		"negative task memory":   {func(t *wire.Task) { t.Memory = -1 }, "task memory -1 MiB is negative"},
		"negative cpu":           {func(t *wire.Task) { t.Containers[0].CPU = -2 }, `container "a": cpu -2 is negative`},
		"negative memory":        {func(t *wire.Task) { t.Containers[1].Memory = -64 }, `container "b": memory -64 MiB is negative`},
		"memory below docker":    {func(t *wire.Task) { t.Containers[0].Memory = 4 }, `container "a": memory 4 MiB is below Docker's minimum of 6 MiB`},
		"hostConfig memory below docker": {func(t *wire.Task) {
			t.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"Memory":4194304}`}
		}, `dockerConfig.hostConfig Memory 4194304 bytes is below Docker's minimum of 6291456 bytes`},
		"reservation below docker": {func(t *wire.Task) {
			t.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"MemoryReservation":6291455}`}
		}, `MemoryReservation 6291455 bytes is below Docker's minimum`},
		"memory over int64 bytes": {func(t *wire.Task) { t.Containers[0].Memory = 1 << 44 }, `container "a": memory 17592186044416 MiB is more than Docker can take`},
		"shm over int64 bytes": {func(t *wire.Task) {
			n := 1 << 62
			t.Containers[0].LinuxParameters = &wire.LinuxParameters{SharedMemorySize: &n}
		}, `container "a": linuxParameters.sharedMemorySize 4611686018427387904 MiB is not in 0-`},
		"negative shm": {func(t *wire.Task) {
			n := -1
			t.Containers[0].LinuxParameters = &wire.LinuxParameters{SharedMemorySize: &n}
		}, `container "a": linuxParameters.sharedMemorySize -1 MiB is not in 0-`},
	} {
		t.Run(name, func(t *testing.T) {
			wt := newTask("bad", "a", "b")
			tc.mutate(wt)
			_, reason := fromWire(wt, config.Default())
			assert.True(t, strings.HasPrefix(reason, kindInvalid+": "), reason)
			assert.Contains(t, reason, tc.want)
		})
	}
	// The floor itself runs.
	wt := newTask("floor", "a")
	wt.Containers[0].Memory = dockerMinMemoryMiB
	wt.Containers[0].DockerConfig = &wire.DockerConfig{HostConfig: `{"MemoryReservation":6291456}`}
	_, reason := fromWire(wt, config.Default())
	assert.Empty(t, reason)
}

// An unknown desired status is refused and reported, not run as RUNNING.
func TestUnknownDesiredStatusIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.start()
		task := newTask("warm", "main")
		task.DesiredStatus = "CREATED"
		h.add(task)
		synctest.Wait()
		r := h.mustReport(task.ARN)
		assert.Equal(t, StatusStopped, r.Status)
		assert.Contains(t, r.Reason, `InvalidTaskError: desiredStatus "CREATED"`)
		assert.Zero(t, h.rt.Calls("CreateContainer"))
	})
}

// A reason cut at 1024 bytes ends between characters.
func TestReasonCutBetweenCharacters(t *testing.T) {
	for pad := range 4 {
		r := reasonf(kindInvalid, "%s%s", strings.Repeat("x", 1000+pad), strings.Repeat("é", 20))
		assert.LessOrEqual(t, len(r), 1024)
		assert.True(t, utf8.ValidString(r), "%q", r[len(r)-4:])
	}
}
