package ecsapi

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smithyModel is the part of ecs-2014-11-13.smithy.json the walk reads.
type smithyModel struct {
	Shapes map[string]struct {
		Type    string `json:"type"`
		Members map[string]struct {
			Target string `json:"target"`
		} `json:"members"`
		Member *struct {
			Target string `json:"target"`
		} `json:"member"`
	} `json:"shapes"`
}

const smithyNS = "com.amazonaws.ecs#"

// loadECSModel reads the ECS model: $ECS_MODEL, or the shared protocol
// documents beside the checkout. Without it the test skips, except under
// CI=true, where it fails.
func loadECSModel(t *testing.T) smithyModel {
	t.Helper()
	var m smithyModel
	require.NoError(t, json.Unmarshal(readECSModel(t), &m))
	return m
}

// readECSModel returns the bytes of the ECS model, found as loadECSModel
// says.
func readECSModel(t *testing.T) []byte {
	t.Helper()
	for _, p := range []string{os.Getenv("ECS_MODEL"), "../../../shared/protocol/ecs-2014-11-13.smithy.json",
		"/work/shared/protocol/ecs-2014-11-13.smithy.json"} {
		if p == "" {
			continue
		}
		if raw, err := os.ReadFile(p); err == nil {
			return raw
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the ECS model ecs-2014-11-13.smithy.json is missing; set ECS_MODEL")
	}
	t.Skip("the ECS model ecs-2014-11-13.smithy.json is not available; set ECS_MODEL")
	return nil
}

// members returns a shape's members and the structure each holds ("X",
// "[]X", or "" for none), as taskDefMembers spells it.
func (m smithyModel) members(shape string) map[string]string {
	out := map[string]string{}
	for name, mem := range m.Shapes[smithyNS+shape].Members {
		out[name] = m.structRef(mem.Target)
	}
	return out
}

func (m smithyModel) structRef(target string) string {
	s := m.Shapes[target]
	name := strings.TrimPrefix(target, smithyNS)
	switch {
	case s.Type == "structure":
		return name
	case s.Type == "list" && s.Member != nil:
		if inner := m.structRef(s.Member.Target); inner != "" && !strings.HasPrefix(inner, "[]") {
			return "[]" + inner
		}
	}
	return ""
}

// TestTaskDefMembersMatchModel walks the ECS model from TaskDefinition and
// RegisterTaskDefinitionRequest through every member that is not refused,
// and fails when a model member is not in taskDefMembers (or the table
// names one the model lacks), when the table's nested shape differs from
// the model's, or when a table is unreachable: a member added to ECS later
// cannot be dropped quietly.
func TestTaskDefMembersMatchModel(t *testing.T) {
	m := loadECSModel(t)

	// TaskDefinition's table covers both top-level shapes.
	def, req := m.members("TaskDefinition"), m.members("RegisterTaskDefinitionRequest")
	require.NotEmpty(t, def)
	top := taskDefMembers["TaskDefinition"]
	for name, rule := range top {
		_, inDef := def[name]
		_, inReq := req[name]
		switch {
		case !inDef && !inReq:
			t.Errorf("taskDefMembers[TaskDefinition] names %s, which neither TaskDefinition nor RegisterTaskDefinitionRequest has", name)
		case inReq && rule.disp == outputOnly:
			t.Errorf("%s is a RegisterTaskDefinition member, not output-only", name)
		case !inReq && rule.disp != outputOnly:
			t.Errorf("%s is only in the TaskDefinition output: mark it outputOnly", name)
		}
	}
	for name := range def {
		assert.Contains(t, top, name, "TaskDefinition.%s is in the ECS model but not in taskDefMembers: decide what this control plane does with it", name)
	}
	for name := range req {
		assert.Contains(t, top, name, "RegisterTaskDefinitionRequest.%s is in the ECS model but not in taskDefMembers", name)
	}

	seen := map[string]bool{}
	queue := []string{"TaskDefinition"}
	// gatedOnly are the shapes reached only through gated members: their
	// own members are gated with them.
	reachedActed := map[string]bool{"TaskDefinition": true}
	for len(queue) > 0 {
		shape := queue[0]
		queue = queue[1:]
		if seen[shape] {
			continue
		}
		seen[shape] = true
		table, ok := taskDefMembers[shape]
		if !assert.True(t, ok, "shape %s is reachable through members this control plane accepts, but taskDefMembers has no table for it", shape) {
			continue
		}
		model := m.members(shape)
		if shape == "TaskDefinition" {
			for name, ref := range req {
				model[name] = ref
			}
		}
		for name, ref := range model {
			rule, ok := table[name]
			if !assert.True(t, ok, "%s.%s is in the ECS model but not in taskDefMembers: decide what this control plane does with it", shape, name) {
				continue
			}
			if rule.disp == refused || rule.disp == outputOnly {
				continue
			}
			assert.Equal(t, ref, rule.shape, "%s.%s: the nested shape the request walk follows", shape, name)
			if inner := strings.TrimPrefix(ref, "[]"); inner != "" {
				queue = append(queue, inner)
				if rule.disp != gated {
					reachedActed[inner] = true
				}
			}
		}
		for name := range table {
			_, ok := model[name]
			assert.True(t, ok, "taskDefMembers[%s] names %s, which the ECS model does not have", shape, name)
		}
	}
	for shape, table := range taskDefMembers {
		assert.True(t, seen[shape], "taskDefMembers has a table for %s, which is not reachable", shape)
		if reachedActed[shape] {
			continue
		}
		for name, rule := range table {
			assert.Equal(t, gated, rule.disp, "%s is reached only through gated members, so %s.%s is gated with them", shape, shape, name)
		}
	}
}

// TestRegisterRefusesMembersItWouldDrop: unknown, output-only and refused
// members fail with a ClientException naming them, at any depth.
func TestRegisterRefusesMembersItWouldDrop(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct{ body, mentions string }{
		"unknown top level":      {tdBody([]string{ok}, `"enableFaultInjection":true`), "enableFaultInjection is not a member this control plane knows"},
		"unknown in a container": {tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"versionConsistency":"enabled"}`}, ""), "containerDefinitions[1].versionConsistency is not a member"},
		"unknown nested":         {tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"hostIp":"127.0.0.1"}]}`}, ""), "containerDefinitions[0].portMappings[0].hostIp is not a member"},
		"unknown in a volume":    {tdBody([]string{ok}, `"volumes":[{"name":"v","host":{"sourcePath":"/s","propagation":"shared"}}]`), "volumes[0].host.propagation is not a member"},
		"output only":            {tdBody([]string{ok}, `"revision":3`), "revision is set by ECS and cannot be registered"},
		"output only ARN":        {tdBody([]string{ok}, `"taskDefinitionArn":"arn:x"`), "taskDefinitionArn is set by ECS"},
		"ephemeral storage":      {tdBody([]string{ok}, `"ephemeralStorage":{"sizeInGiB":30}`), "ephemeralStorage: ephemeralStorage applies to Fargate tasks only"},
		"proxy":                  {tdBody([]string{ok}, `"proxyConfiguration":{"type":"APPMESH","containerName":"ok"}`), "proxyConfiguration: proxyConfiguration (App Mesh) needs networkMode awsvpc"},
		"inference":              {tdBody([]string{ok}, `"inferenceAccelerators":[{"deviceName":"d","deviceType":"eia2.medium"}]`), "inferenceAccelerators: inferenceAccelerators (Elastic Inference) are not supported"},
		"configured at launch":   {tdBody([]string{ok}, `"volumes":[{"name":"v","configuredAtLaunch":true}]`), "volumes[0].configuredAtLaunch: configuredAtLaunch (an EBS volume configured by RunTask) is not supported"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", c.body, true)
			require.Equal(t, http.StatusBadRequest, resp.status, string(resp.raw))
			assert.Equal(t, CodeClientException, resp.body["__type"], string(resp.raw))
			assert.Contains(t, resp.body["message"], c.mentions)
		})
	}
	// A refused member that sets nothing is harmless; a member cased
	// differently is the member, as encoding/json decodes it.
	for name, body := range map[string]string{
		"empty refused members": tdBody([]string{ok}, `"inferenceAccelerators":[],"proxyConfiguration":null,"volumes":[{"name":"v","configuredAtLaunch":false}]`),
		"member case":           tdBody([]string{`{"Name":"a","IMAGE":"i","memory":64}`}, ""),
	} {
		resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", body, true)
		assert.Equal(t, http.StatusOK, resp.status, "%s: %s", name, resp.raw)
	}
}

// gatedCase registers containers (and more top-level members) and lists
// the attributes the task definition must then require.
type gatedCase struct {
	containers []string
	more       string
	attrs      []string
}

// gatedCases covers every gated member of the shapes a request sets
// directly, and the acted-on members that require attributes too (the
// roles); TestGatedMembersRequireAttributes checks that none is missing.
var gatedCases = map[string]gatedCase{
	"TaskDefinition.taskRoleArn": {[]string{ok}, `"taskRoleArn":"arn:aws:iam::1:role/app","networkMode":"host"`,
		[]string{"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.task-iam-role-network-host"}},
	"TaskDefinition.executionRoleArn": {[]string{`{"name":"a","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1","memory":64,"logConfiguration":{"logDriver":"awslogs"}}`},
		`"executionRoleArn":"arn:aws:iam::1:role/exec"`,
		[]string{"ecs.capability.execution-role-awslogs", "ecs.capability.execution-role-ecr-pull", "com.amazonaws.ecs.capability.ecr-auth"}},
	"ContainerDefinition.secrets": {[]string{`{"name":"a","image":"i","memory":64,"secrets":[` +
		`{"name":"A","valueFrom":"arn:aws:ssm:us-east-1:1:parameter/a"},{"name":"B","valueFrom":"arn:aws:secretsmanager:us-east-1:1:secret:b"}]}`}, "",
		[]string{"ecs.capability.secrets.ssm.environment-variables", "ecs.capability.secrets.asm.environment-variables"}},
	"LogConfiguration.secretOptions": {[]string{`{"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"splunk","secretOptions":[` +
		`{"name":"splunk-token","valueFrom":"/splunk/token"},{"name":"x","valueFrom":"arn:aws:secretsmanager:us-east-1:1:secret:x"}]}}`}, "",
		[]string{"ecs.capability.secrets.ssm.bootstrap.log-driver", "ecs.capability.secrets.asm.bootstrap.log-driver", "com.amazonaws.ecs.capability.logging-driver.splunk"}},
	"ContainerDefinition.environmentFiles": {[]string{`{"name":"a","image":"i","memory":64,"environmentFiles":[{"type":"s3","value":"arn:aws:s3:::b/a.env"}]}`}, "",
		[]string{"ecs.capability.env-files.s3"}},
	"ContainerDefinition.repositoryCredentials": {[]string{`{"name":"a","image":"i","memory":64,"repositoryCredentials":{"credentialsParameter":"arn:aws:secretsmanager:us-east-1:1:secret:r"}}`}, "",
		[]string{"ecs.capability.private-registry-authentication.secretsmanager"}},
	"ContainerDefinition.firelensConfiguration": {[]string{`{"name":"log","image":"i","memory":64,"firelensConfiguration":{"type":"fluentbit","options":{"config-file-type":"s3","config-file-value":"arn:aws:s3:::b/f.conf"}}}`,
		`{"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"awsfirelens"}}`}, "",
		[]string{"ecs.capability.firelens.fluentbit", "ecs.capability.firelens.options.config.s3", "com.amazonaws.ecs.capability.logging-driver.awsfirelens"}},
	"ContainerDefinition.credentialSpecs": {[]string{`{"name":"a","image":"i","memory":64,"credentialSpecs":["credentialspecdomainless:arn:aws:s3:::b/c.json"]}`,
		`{"name":"b","image":"i","memory":64,"credentialSpecs":["credentialspec:arn:aws:ssm:us-east-1:1:parameter/c"]}`}, "",
		[]string{"ecs.capability.gmsa-domainless", "ecs.capability.gmsa"}},
	// A GPU needs no attribute: placement refuses it (RESOURCE:GPU).
	"ContainerDefinition.resourceRequirements": {[]string{`{"name":"a","image":"i","memory":64,"resourceRequirements":[{"type":"GPU","value":"1"}]}`}, "", nil},
	"Volume.efsVolumeConfiguration": {[]string{ok},
		`"volumes":[{"name":"e","efsVolumeConfiguration":{"fileSystemId":"fs-1","transitEncryption":"ENABLED","authorizationConfig":{"iam":"ENABLED"}}}]`,
		[]string{"ecs.capability.efs", "ecs.capability.efsAuth"}},
	"Volume.fsxWindowsFileServerVolumeConfiguration": {[]string{ok},
		`"volumes":[{"name":"w","fsxWindowsFileServerVolumeConfiguration":{"fileSystemId":"fs-1","rootDirectory":"\\share","authorizationConfig":{"credentialsParameter":"arn:c","domain":"d"}}}]`,
		[]string{"ecs.capability.fsxWindowsFileServer"}},
}

// TestGatedMembersRequireAttributes registers a task definition for each
// gated member and checks the attributes DescribeTaskDefinition shows, and
// that the member itself is kept.
func TestGatedMembersRequireAttributes(t *testing.T) {
	for shape, table := range taskDefMembers {
		if !slices.Contains([]string{"TaskDefinition", "ContainerDefinition", "LogConfiguration", "Volume"}, shape) {
			continue
		}
		for name, rule := range table {
			if rule.disp == gated {
				assert.Contains(t, gatedCases, shape+"."+name, "a gated member needs a case showing what it requires")
			}
		}
	}
	f := newFixture(t)
	for name, c := range gatedCases {
		t.Run(name, func(t *testing.T) {
			resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", tdBody(c.containers, c.more), true)
			require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
			td := resp.body["taskDefinition"].(map[string]any)
			var got []string
			for _, a := range td["requiresAttributes"].([]any) {
				got = append(got, a.(map[string]any)["name"].(string))
			}
			for _, want := range c.attrs {
				assert.Contains(t, got, want)
			}
			member := name[strings.Index(name, ".")+1:]
			desc := rawCall(t, f.srv.URL, "DescribeTaskDefinition", `{"taskDefinition":"`+td["taskDefinitionArn"].(string)+`"}`, true)
			assert.Contains(t, string(desc.raw), `"`+member+`"`, "DescribeTaskDefinition shows the member")
		})
	}
}

func TestRegisterTaskDefinitionSizeLimit(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("x", maxTaskDefinitionBytes)
	resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition",
		tdBody([]string{`{"name":"a","image":"i","memory":64,"environment":[{"name":"BIG","value":"` + big + `"}]}`}, ""), true)
	require.Equal(t, http.StatusBadRequest, resp.status, string(resp.raw))
	assert.Equal(t, CodeClientException, resp.body["__type"])
	assert.Contains(t, resp.body["message"], "the limit is 65536 bytes (64 KiB)")

	// Indentation does not count: this one is under the limit as compact JSON.
	padded := tdBody([]string{ok + strings.Repeat(" ", maxTaskDefinitionBytes)}, "")
	resp = rawCall(t, f.srv.URL, "RegisterTaskDefinition", padded, true)
	assert.Equal(t, http.StatusOK, resp.status, string(resp.raw[:min(len(resp.raw), 300)]))
}

func TestRegisterRefusesGatedValues(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct {
		body     string
		code     string
		mentions []string
	}{
		"dependsOn cycle": {tdBody([]string{`{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"b","condition":"START"}]}`,
			`{"name":"b","image":"i","memory":64,"dependsOn":[{"containerName":"a","condition":"COMPLETE"}]}`}, ""),
			CodeClientException, []string{"cycle: a (dependsOn) -> b (dependsOn) -> a"}},
		"links and volumesFrom cycle": {tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"links":["b"],"dependsOn":[{"containerName":"ok","condition":"START"}]}`,
			`{"name":"b","image":"i","memory":64,"volumesFrom":[{"sourceContainer":"a"}]}`}, ""),
			CodeClientException, []string{"cycle: a (links) -> b (volumesFrom) -> a"}},
		"secret without valueFrom": {tdBody([]string{`{"name":"a","image":"i","memory":64,"secrets":[{"name":"A"}]}`}, ""), CodeClientException, []string{"'a'", "secrets", "valueFrom"}},
		"log secret without name": {tdBody([]string{`{"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"splunk","secretOptions":[{"valueFrom":"x"}]}}`}, ""),
			CodeClientException, []string{"'a'", "logConfiguration.secretOptions"}},
		"env file type":      {tdBody([]string{`{"name":"a","image":"i","memory":64,"environmentFiles":[{"type":"http","value":"x"}]}`}, ""), CodeClientException, []string{"'a'", "environmentFiles", "s3"}},
		"registry parameter": {tdBody([]string{`{"name":"a","image":"i","memory":64,"repositoryCredentials":{}}`}, ""), CodeClientException, []string{"'a'", "repositoryCredentials.credentialsParameter"}},
		"firelens type":      {tdBody([]string{`{"name":"a","image":"i","memory":64,"firelensConfiguration":{"type":"vector"}}`}, ""), CodeClientException, []string{"'a'", "firelensConfiguration", "vector"}},
		"credential spec":    {tdBody([]string{`{"name":"a","image":"i","memory":64,"credentialSpecs":["arn:x"]}`}, ""), CodeClientException, []string{"'a'", "credentialSpecs", "credentialspec:"}},
		"gpu count":          {tdBody([]string{`{"name":"a","image":"i","memory":64,"resourceRequirements":[{"type":"GPU","value":"all"}]}`}, ""), CodeClientException, []string{"'a'", "GPU", "all"}},
		"inference accelerator": {tdBody([]string{`{"name":"a","image":"i","memory":64,"resourceRequirements":[{"type":"InferenceAccelerator","value":"d"}]}`}, ""),
			CodeClientException, []string{"'a'", "InferenceAccelerator", "inferenceAccelerators"}},
		"max swap without memory": {tdBody([]string{`{"name":"a","image":"i","memoryReservation":64,"linuxParameters":{"maxSwap":100}}`}, ""),
			CodeClientException, []string{"'a'", "linuxParameters.maxSwap", "memory"}},
		"efs file system": {tdBody([]string{ok}, `"volumes":[{"name":"e","efsVolumeConfiguration":{}}]`), CodeInvalidParameter, []string{"'e'", "fileSystemId"}},
		"efs iam without tls": {tdBody([]string{ok}, `"volumes":[{"name":"e","efsVolumeConfiguration":{"fileSystemId":"fs-1","authorizationConfig":{"iam":"ENABLED"}}}]`),
			CodeInvalidParameter, []string{"'e'", "transitEncryption ENABLED"}},
		"fsx incomplete": {tdBody([]string{ok}, `"volumes":[{"name":"w","fsxWindowsFileServerVolumeConfiguration":{"fileSystemId":"fs-1"}}]`), CodeInvalidParameter, []string{"'w'", "rootDirectory"}},
		"two kinds":      {tdBody([]string{ok}, `"volumes":[{"name":"v","host":{},"efsVolumeConfiguration":{"fileSystemId":"fs-1"}}]`), CodeInvalidParameter, []string{"'v'", "only one of"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", c.body, true)
			require.Equal(t, http.StatusBadRequest, resp.status, string(resp.raw))
			assert.Equal(t, c.code, resp.body["__type"], string(resp.raw))
			for _, w := range c.mentions {
				assert.Contains(t, resp.body["message"], w)
			}
		})
	}
}
