package ecsapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tdBody makes a RegisterTaskDefinition body: family "f", the given
// container definitions (JSON objects) and more top-level members.
func tdBody(containers []string, more string) string {
	body := `{"family":"f","containerDefinitions":[` + strings.Join(containers, ",") + `]`
	if more != "" {
		body += "," + more
	}
	return body + "}"
}

// ok is a valid container definition.
const ok = `{"name":"ok","image":"busybox","memory":64}`

func TestRegisterTaskDefinitionValidation(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name     string
		body     string
		code     string
		mentions []string // what the message must name
	}{
		{"family blank", `{"containerDefinitions":[` + ok + `]}`, CodeInvalidParameter, []string{"family"}},
		{"family pattern", `{"family":"a/b","containerDefinitions":[` + ok + `]}`, CodeInvalidParameter, []string{"family", "a/b"}},
		{"family too long", `{"family":"` + strings.Repeat("x", 256) + `","containerDefinitions":[` + ok + `]}`, CodeInvalidParameter, []string{"family"}},
		{"no containers", tdBody(nil, ""), CodeClientException, []string{"containerDefinitions"}},
		{"eleven containers", tdBody(manyContainers(11), ""), CodeClientException, []string{"containerDefinitions"}},
		{"container name pattern", tdBody([]string{`{"name":"a b","image":"i","memory":64}`}, ""), CodeClientException, []string{"name", "a b"}},
		{"container name blank", tdBody([]string{`{"image":"i","memory":64}`}, ""), CodeClientException, []string{"containerDefinitions[0].name"}},
		{"duplicate names", tdBody([]string{ok, ok}, ""), CodeClientException, []string{"ok", "unique"}},
		{"image required", tdBody([]string{`{"name":"a","memory":64}`}, ""), CodeClientException, []string{"'a'", "image"}},
		{"memory required", tdBody([]string{`{"name":"a","image":"i"}`}, ""), CodeClientException, []string{"'a'", "memory", "memoryReservation"}},
		{"memory too small", tdBody([]string{`{"name":"a","image":"i","memory":4}`}, ""), CodeClientException, []string{"'a'", "memory", "6 MiB"}},
		{"reservation above memory", tdBody([]string{`{"name":"a","image":"i","memory":64,"memoryReservation":128}`}, ""), CodeClientException, []string{"'a'", "memoryReservation", "memory"}},
		{"container memory above task", tdBody([]string{`{"name":"a","image":"i","memory":2048}`}, `"memory":"1 GB"`), CodeClientException, []string{"'a'", "task memory"}},
		{"cpu above task", tdBody([]string{`{"name":"a","image":"i","memory":64,"cpu":2048}`}, `"cpu":"1 vCPU"`), CodeClientException, []string{"cpu", "1024"}},
		{"negative cpu", tdBody([]string{`{"name":"a","image":"i","memory":64,"cpu":-1}`}, ""), CodeClientException, []string{"'a'", "cpu"}},
		{"task cpu unreadable", tdBody([]string{ok}, `"cpu":"lots"`), CodeInvalidParameter, []string{"cpu", "lots"}},
		{"task memory unreadable", tdBody([]string{ok}, `"memory":"1 TB"`), CodeInvalidParameter, []string{"memory", "1 TB"}},
		{"no essential", tdBody([]string{`{"name":"a","image":"i","memory":64,"essential":false}`}, ""), CodeClientException, []string{"essential"}},
		{"awsvpc", tdBody([]string{ok}, `"networkMode":"awsvpc"`), CodeInvalidParameter, []string{"networkMode", "awsvpc", "not supported"}},
		{"bad network mode", tdBody([]string{ok}, `"networkMode":"overlay"`), CodeInvalidParameter, []string{"networkMode", "overlay"}},
		{"pidMode", tdBody([]string{ok}, `"pidMode":"shared"`), CodeInvalidParameter, []string{"pidMode"}},
		{"ipcMode", tdBody([]string{ok}, `"ipcMode":"shared"`), CodeInvalidParameter, []string{"ipcMode"}},
		{"fargate", tdBody([]string{ok}, `"requiresCompatibilities":["FARGATE"]`), CodeInvalidParameter, []string{"requiresCompatibilities", "FARGATE"}},
		{"windows", tdBody([]string{ok}, `"runtimePlatform":{"operatingSystemFamily":"WINDOWS_SERVER_2022_CORE"}`), CodeInvalidParameter, []string{"runtimePlatform.operatingSystemFamily", "LINUX"}},
		{"architecture", tdBody([]string{ok}, `"runtimePlatform":{"cpuArchitecture":"MIPS"}`), CodeInvalidParameter, []string{"runtimePlatform.cpuArchitecture", "MIPS"}},
		{"placement constraint", tdBody([]string{ok}, `"placementConstraints":[{"type":"distinctInstance"}]`), CodeInvalidParameter, []string{"placementConstraints"}},
		{"links in host mode", tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"links":["ok"]}`}, `"networkMode":"host"`), CodeClientException, []string{"'a'", "links", "bridge"}},
		{"link to unknown", tdBody([]string{`{"name":"a","image":"i","memory":64,"links":["db:alias"]}`}, ""), CodeClientException, []string{"'a'", "links", "'db'"}},
		{"link to itself", tdBody([]string{`{"name":"a","image":"i","memory":64,"links":["a"]}`}, ""), CodeClientException, []string{"'a'", "links", "itself"}},
		{"link alias", tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"links":["ok:a b"]}`}, ""), CodeClientException, []string{"'a'", "alias"}},
		{"volumesFrom unknown", tdBody([]string{`{"name":"a","image":"i","memory":64,"volumesFrom":[{"sourceContainer":"x"}]}`}, ""), CodeClientException, []string{"'a'", "volumesFrom.sourceContainer", "'x'"}},
		{"dependsOn unknown", tdBody([]string{`{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"x","condition":"START"}]}`}, ""), CodeClientException, []string{"'a'", "dependsOn.containerName", "'x'"}},
		{"dependsOn condition", tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"ok","condition":"READY"}]}`}, ""), CodeClientException, []string{"'a'", "dependsOn", "READY"}},
		{"dependsOn healthy without check", tdBody([]string{ok, `{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"ok","condition":"HEALTHY"}]}`}, ""), CodeClientException, []string{"'a'", "HEALTHY", "healthCheck", "'ok'"}},
		{"host port differs in host mode", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"hostPort":8080}]}`}, `"networkMode":"host"`), CodeClientException, []string{"'a'", "hostPort", "containerPort", "host network mode"}},
		{"ports in none mode", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80}]}`}, `"networkMode":"none"`), CodeClientException, []string{"'a'", "portMappings", "none"}},
		{"containerPort missing", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"hostPort":80}]}`}, ""), CodeClientException, []string{"'a'", "containerPort"}},
		{"containerPort range", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":70000}]}`}, ""), CodeClientException, []string{"'a'", "containerPort"}},
		{"hostPort range", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"hostPort":-1}]}`}, ""), CodeClientException, []string{"'a'", "hostPort"}},
		{"protocol", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"protocol":"sctp"}]}`}, ""), CodeClientException, []string{"'a'", "protocol", "sctp"}},
		{"port range with hostPort", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8000-8010","hostPort":8000}]}`}, ""), CodeClientException, []string{"'a'", "containerPortRange", "hostPort"}},
		{"port range in host mode", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8000-8010"}]}`}, `"networkMode":"host"`), CodeClientException, []string{"'a'", "containerPortRange", "bridge"}},
		{"port range format", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8010-8000"}]}`}, ""), CodeClientException, []string{"'a'", "containerPortRange", "8010-8000"}},
		{"port mapped twice", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80},{"containerPort":80,"hostPort":8080}]}`}, ""), CodeClientException, []string{"'a'", "80/tcp", "more than one"}},
		{"ranges overlap", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8000-8010"},{"containerPortRange":"8010-8020"}]}`}, ""), CodeClientException, []string{"'a'", "8010/tcp"}},
		{"port inside range", tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8000-8010","protocol":"udp"},{"containerPort":8005,"protocol":"udp"}]}`}, ""), CodeClientException, []string{"'a'", "8005/udp"}},
		{"mount of undefined volume", tdBody([]string{`{"name":"a","image":"i","memory":64,"mountPoints":[{"sourceVolume":"v","containerPath":"/v"}]}`}, ""), CodeClientException, []string{"'a'", "sourceVolume", "'v'"}},
		{"mount path relative", tdBody([]string{`{"name":"a","image":"i","memory":64,"mountPoints":[{"sourceVolume":"v","containerPath":"v"}]}`}, `"volumes":[{"name":"v"}]`), CodeClientException, []string{"'a'", "containerPath"}},
		{"duplicate volume", tdBody([]string{ok}, `"volumes":[{"name":"v"},{"name":"v"}]`), CodeInvalidParameter, []string{"volumes", "\"v\"", "unique"}},
		{"volume name", tdBody([]string{ok}, `"volumes":[{"name":""}]`), CodeInvalidParameter, []string{"volumes[0].name"}},
		{"volume host and docker", tdBody([]string{ok}, `"volumes":[{"name":"v","host":{},"dockerVolumeConfiguration":{}}]`), CodeInvalidParameter, []string{"'v'", "host", "dockerVolumeConfiguration"}},
		{"volume scope", tdBody([]string{ok}, `"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"global"}}]`), CodeInvalidParameter, []string{"'v'", "scope", "global"}},
		{"autoprovision without shared", tdBody([]string{ok}, `"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"task","autoprovision":true}}]`), CodeInvalidParameter, []string{"'v'", "autoprovision", "shared"}},
		{"log driver", tdBody([]string{`{"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"loki"}}`}, ""), CodeClientException, []string{"'a'", "logDriver", "loki"}},
		{"ulimit name", tdBody([]string{`{"name":"a","image":"i","memory":64,"ulimits":[{"name":"files","softLimit":1,"hardLimit":1}]}`}, ""), CodeClientException, []string{"'a'", "ulimits", "files"}},
		{"ulimit soft above hard", tdBody([]string{`{"name":"a","image":"i","memory":64,"ulimits":[{"name":"nofile","softLimit":2,"hardLimit":1}]}`}, ""), CodeClientException, []string{"'a'", "softLimit", "hardLimit"}},
		{"restart period", tdBody([]string{`{"name":"a","image":"i","memory":64,"restartPolicy":{"enabled":true,"restartAttemptPeriod":30}}`}, ""), CodeClientException, []string{"'a'", "restartPolicy.restartAttemptPeriod", "60", "1800"}},
		{"restart enabled", tdBody([]string{`{"name":"a","image":"i","memory":64,"restartPolicy":{}}`}, ""), CodeClientException, []string{"'a'", "restartPolicy.enabled"}},
		{"stop timeout", tdBody([]string{`{"name":"a","image":"i","memory":64,"stopTimeout":121}`}, ""), CodeClientException, []string{"'a'", "stopTimeout", "120"}},
		{"start timeout", tdBody([]string{`{"name":"a","image":"i","memory":64,"startTimeout":-1}`}, ""), CodeClientException, []string{"'a'", "startTimeout"}},
		{"health command", tdBody([]string{`{"name":"a","image":"i","memory":64,"healthCheck":{"command":["curl"]}}`}, ""), CodeClientException, []string{"'a'", "healthCheck.command", "CMD-SHELL"}},
		{"health interval", tdBody([]string{`{"name":"a","image":"i","memory":64,"healthCheck":{"command":["CMD","true"],"interval":1}}`}, ""), CodeClientException, []string{"'a'", "healthCheck.interval"}},
		{"health retries", tdBody([]string{`{"name":"a","image":"i","memory":64,"healthCheck":{"command":["CMD","true"],"retries":11}}`}, ""), CodeClientException, []string{"'a'", "healthCheck.retries"}},
		{"shm size", tdBody([]string{`{"name":"a","image":"i","memory":64,"linuxParameters":{"sharedMemorySize":0}}`}, ""), CodeClientException, []string{"'a'", "linuxParameters.sharedMemorySize"}},
		{"device permission", tdBody([]string{`{"name":"a","image":"i","memory":64,"linuxParameters":{"devices":[{"hostPath":"/dev/x","permissions":["all"]}]}}`}, ""), CodeClientException, []string{"'a'", "linuxParameters.devices", "all"}},
		{"tmpfs", tdBody([]string{`{"name":"a","image":"i","memory":64,"linuxParameters":{"tmpfs":[{"containerPath":"/t","size":0}]}}`}, ""), CodeClientException, []string{"'a'", "linuxParameters.tmpfs"}},
		{"extra host ip", tdBody([]string{`{"name":"a","image":"i","memory":64,"extraHosts":[{"hostname":"db","ipAddress":"nope"}]}`}, ""), CodeClientException, []string{"'a'", "extraHosts", "ipAddress"}},
		{"env name", tdBody([]string{`{"name":"a","image":"i","memory":64,"environment":[{"value":"x"}]}`}, ""), CodeClientException, []string{"'a'", "environment"}},
		{"health timeout", tdBody([]string{`{"name":"a","image":"i","memory":64,"healthCheck":{"command":["CMD","true"],"timeout":61}}`}, ""), CodeClientException, []string{"'a'", "healthCheck.timeout", "60"}},
		{"reservations above task memory", tdBody([]string{`{"name":"a","image":"i","memoryReservation":300}`, `{"name":"b","image":"i","memory":300}`}, `"memory":"512"`), CodeClientException, []string{"memory", "600 MiB", "512 MiB"}},
		{"too many tags", tdBody([]string{ok}, `"tags":[`+strings.Repeat(`{"key":"k","value":"v"},`, 50)+`{"key":"k"}]`), CodeInvalidParameter, []string{"Tags"}},
		{"wrong type", `{"family":"f","containerDefinitions":[{"name":"a","image":"i","memory":"64"}]}`, CodeSerialization, []string{"memory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", c.body, true)
			require.Equal(t, http.StatusBadRequest, resp.status, string(resp.raw))
			assert.Equal(t, c.code, resp.body["__type"], string(resp.raw))
			msg, _ := resp.body["message"].(string)
			for _, w := range c.mentions {
				assert.Contains(t, msg, w)
			}
		})
	}
	// Nothing was stored by the rejected requests.
	resp := rawCall(t, f.srv.URL, "ListTaskDefinitionFamilies", `{"status":"ALL"}`, true)
	assert.Empty(t, resp.body["families"])
}

func manyContainers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = `{"name":"c` + string(rune('a'+i)) + `","image":"i","memory":64}`
	}
	return out
}

// TestRegisterTaskDefinitionAccepts checks definitions at the edges of the
// rules, which must pass.
func TestRegisterTaskDefinitionAccepts(t *testing.T) {
	f := newFixture(t)
	for name, body := range map[string]string{
		"task memory only":        tdBody([]string{`{"name":"a","image":"i"}`}, `"memory":"0.5 GB","cpu":"256"`),
		"reservation only":        tdBody([]string{`{"name":"a","image":"i","memoryReservation":64}`}, ""),
		"host mode same ports":    tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":80,"hostPort":80},{"containerPort":81}]}`}, `"networkMode":"host"`),
		"hostname in host mode":   tdBody([]string{`{"name":"a","image":"i","memory":64,"hostname":"h"}`}, `"networkMode":"host"`),
		"same port tcp and udp":   tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPort":53},{"containerPort":53,"protocol":"udp"}]}`}, ""),
		"runtime platform":        tdBody([]string{ok}, `"runtimePlatform":{"operatingSystemFamily":"LINUX","cpuArchitecture":"ARM64"}`),
		"none mode":               tdBody([]string{ok}, `"networkMode":"none"`),
		"port range in bridge":    tdBody([]string{`{"name":"a","image":"i","memory":64,"portMappings":[{"containerPortRange":"8000-8010","protocol":"udp"}]}`}, `"networkMode":"bridge"`),
		"healthy dependency":      tdBody([]string{`{"name":"db","image":"i","memory":64,"healthCheck":{"command":["CMD","true"]}}`, `{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"db","condition":"HEALTHY"}],"links":["db"]}`}, ""),
		"shared autoprovision":    tdBody([]string{`{"name":"a","image":"i","memory":64,"mountPoints":[{"sourceVolume":"v","containerPath":"/v","readOnly":true}]}`}, `"volumes":[{"name":"v","dockerVolumeConfiguration":{"scope":"shared","autoprovision":true,"driver":"local"}}]`),
		"restart policy at edges": tdBody([]string{`{"name":"a","image":"i","memory":64,"restartPolicy":{"enabled":true,"restartAttemptPeriod":1800},"stopTimeout":120}`}, ""),
		"every log driver":        tdBody([]string{`{"name":"a","image":"i","memory":64,"logConfiguration":{"logDriver":"awslogs"}}`, `{"name":"b","image":"i","memory":64,"logConfiguration":{"logDriver":"journald"}}`}, ""),
		"ec2 compatibility":       tdBody([]string{ok}, `"requiresCompatibilities":["EC2","EXTERNAL"],"placementConstraints":[{"type":"memberOf","expression":"attribute:x == y"}]`),
	} {
		resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", body, true)
		assert.Equal(t, http.StatusOK, resp.status, "%s: %s", name, resp.raw)
	}
}
