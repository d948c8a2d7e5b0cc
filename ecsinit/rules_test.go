package ecsinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func procSys(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, routeLocalnet)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("0\n"), 0o644))
	return root
}

func defaults(t *testing.T, settings ...string) *Config {
	t.Helper()
	cfg, err := Load(LoadOptions{ConfigFile: writeConfig(t, strings.Join(settings, "\n")), InstanceConfigFile: "-"})
	require.NoError(t, err)
	return cfg
}

// TestPreStartIdempotentPostStopExact: pre-start adds each rule once, in
// order, however often it runs; post-stop removes exactly those rules and
// leaves another tool's alone.
func TestPreStartIdempotentPostStopExact(t *testing.T) {
	ipt := newFakeIPT()
	require.NoError(t, ipt.Append("filter", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"))
	h := &Host{IPT: ipt, ProcSys: procSys(t)}
	cfg := defaults(t)
	for range 2 {
		require.NoError(t, h.PreStart(t.Context(), cfg))
	}
	sysctl, err := os.ReadFile(filepath.Join(h.ProcSys, routeLocalnet))
	require.NoError(t, err)
	assert.Equal(t, "1", strings.TrimSpace(string(sysctl)))
	assert.Equal(t, []string{
		"-p tcp -d 169.254.170.2 --dport 80 -m comment --comment open-ecs-init -j DNAT --to-destination 127.0.0.1:51679",
	}, ipt.rules["nat/PREROUTING"])
	assert.Equal(t, []string{
		"-p tcp -d 169.254.170.2 --dport 80 -m comment --comment open-ecs-init -j REDIRECT --to-ports 51679",
	}, ipt.rules["nat/OUTPUT"])
	assert.Equal(t, []string{
		"-p tcp -i docker0 --dport 51678 -m comment --comment open-ecs-init -j ACCEPT",
		"-p tcp ! -i lo --dport 51678 -m comment --comment open-ecs-init -j DROP",
		"-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment open-ecs-init -j DROP",
		"-p tcp --dport 22 -j ACCEPT",
	}, ipt.rules["filter/INPUT"], "the filter rules go on top, the bridge's ACCEPT above the DROP")

	// One of the ordered rules went missing: the group is restored in order.
	require.NoError(t, ipt.Delete("filter", "INPUT", strings.Fields(ipt.rules["filter/INPUT"][1])...))
	require.NoError(t, h.PreStart(t.Context(), cfg))
	assert.Equal(t, "-p tcp -i docker0 --dport 51678 -m comment --comment open-ecs-init -j ACCEPT", ipt.rules["filter/INPUT"][0])
	assert.Len(t, ipt.rules["filter/INPUT"], 4)

	// A later configuration does not matter: every tagged rule goes.
	require.NoError(t, h.PostStop(t.Context()))
	require.NoError(t, h.PostStop(t.Context()))
	assert.Empty(t, ipt.rules["nat/PREROUTING"])
	assert.Empty(t, ipt.rules["nat/OUTPUT"])
	assert.Equal(t, []string{"-p tcp --dport 22 -j ACCEPT"}, ipt.rules["filter/INPUT"])
}

func TestHostRulesFollowSettings(t *testing.T) {
	count := func(cfg *Config, substr string) int {
		n := 0
		for _, r := range HostRules(cfg) {
			if strings.Contains(strings.Join(r.Spec, " "), substr) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 0, count(defaults(t, "ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true"), "51678"),
		"off-host introspection allowed: no rule for its port")
	assert.Equal(t, 0, count(defaults(t, "ECS_SKIP_LOCALHOST_TRAFFIC_FILTER=true"), "127.0.0.0/8"))
	assert.Equal(t, 1, count(defaults(t, "ECS_OFFHOST_INTROSPECTION_INTERFACE_NAME=eth1"), "-i eth1 --dport 51678"))
	assert.Equal(t, 2, count(defaults(t, "ECS_INTROSPECTION_ADDR=127.0.0.1:9999"), "--dport 9999"))
	assert.Equal(t, 2, count(defaults(t), "169.254.170.2"), "the task endpoint is always redirected")
}
