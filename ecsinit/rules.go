package ecsinit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/internal/logging"
)

// The task metadata and credentials endpoint: tasks call 169.254.170.2:80,
// which the NAT rules send to the agent on the host's loopback.
const (
	TaskEndpointIP   = "169.254.170.2"
	TaskEndpointPort = 80
	TaskServerPort   = 51679
	// RuleComment tags every rule ecs-init adds, so that post-stop removes
	// exactly those, whatever the configuration was when they were added.
	RuleComment = "open-ecs-init"

	dockerBridge = "docker0"
	// routeLocalnet lets the kernel route packets to 127.0.0.0/8 that come
	// from another interface, which the DNAT to 127.0.0.1 needs.
	routeLocalnet = "net/ipv4/conf/all/route_localnet"
)

// Rule is one iptables rule: table, chain and the rule specification
// without the chain (as `iptables -t table -A chain <Spec...>` takes it).
type Rule struct {
	Table, Chain string
	Spec         []string
	// First rules go to the top of the chain: a DROP appended after another
	// tool's ACCEPT would never match.
	First bool
}

func (r Rule) String() string {
	return fmt.Sprintf("-t %s %s %s", r.Table, r.Chain, strings.Join(r.Spec, " "))
}

// managedChains are the chains ecs-init adds rules to.
var managedChains = [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"filter", "INPUT"}}

// HostRules are the rules pre-start adds for cfg, in the order they are
// applied. Rules inserted First end up in the reverse order, so the
// docker-bridge ACCEPT comes after (and lands above) the DROP it excepts.
func HostRules(cfg *Config) []Rule {
	tag := []string{"-m", "comment", "--comment", RuleComment}
	spec := func(parts ...string) []string {
		// The comment goes before the target, where iptables-save puts it.
		n := len(parts)
		for i, p := range parts {
			if p == "-j" {
				n = i
				break
			}
		}
		return append(append(append([]string{}, parts[:n]...), tag...), parts[n:]...)
	}
	ep, port := TaskEndpointIP, strconv.Itoa(TaskEndpointPort)
	server := strconv.Itoa(TaskServerPort)
	rules := []Rule{
		{Table: "nat", Chain: "PREROUTING", Spec: spec("-p", "tcp", "-d", ep, "--dport", port,
			"-j", "DNAT", "--to-destination", "127.0.0.1:"+server)},
		{Table: "nat", Chain: "OUTPUT", Spec: spec("-p", "tcp", "-d", ep, "--dport", port,
			"-j", "REDIRECT", "--to-ports", server)},
	}
	if !cfg.SkipLocalhostFilter {
		// With route_localnet on, packets to 127.0.0.0/8 from other hosts
		// would reach loopback services; only the DNATed task traffic may.
		rules = append(rules, Rule{Table: "filter", Chain: "INPUT", First: true, Spec: spec(
			"-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
			"-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")})
	}
	if !cfg.AllowOffhostIntrospection {
		intro := strconv.Itoa(cfg.IntrospectionPort)
		if cfg.OffhostIntrospectionInterface != "" {
			rules = append(rules, Rule{Table: "filter", Chain: "INPUT", First: true, Spec: spec(
				"-p", "tcp", "-i", cfg.OffhostIntrospectionInterface, "--dport", intro, "-j", "DROP")})
		} else {
			rules = append(rules,
				Rule{Table: "filter", Chain: "INPUT", First: true, Spec: spec(
					"-p", "tcp", "!", "-i", "lo", "--dport", intro, "-j", "DROP")},
				// Containers on the default bridge may query the agent.
				Rule{Table: "filter", Chain: "INPUT", First: true, Spec: spec(
					"-p", "tcp", "-i", dockerBridge, "--dport", intro, "-j", "ACCEPT")})
		}
	}
	return rules
}

// IPTables is what host preparation needs from iptables; the
// github.com/coreos/go-iptables implementation satisfies it.
type IPTables interface {
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	List(table, chain string) ([]string, error)
}

// Host prepares and restores the host's network settings.
type Host struct {
	IPT IPTables
	// ProcSys is the sysctl tree, /proc/sys when empty (tests use a directory).
	ProcSys string
	Logger  *slog.Logger
}

func (h *Host) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// PreStart enables route_localnet and adds the rules of cfg that are not
// there yet, so running it again changes nothing. The rules that go to the
// top of their chain are an ordered group (an ACCEPT above the DROP it
// excepts): when one of them is missing the group is put back whole.
func (h *Host) PreStart(_ context.Context, cfg *Config) error {
	if err := h.setSysctl(routeLocalnet, "1"); err != nil {
		return err
	}
	var first []Rule
	var firstMissing bool
	for _, r := range HostRules(cfg) {
		ok, err := h.IPT.Exists(r.Table, r.Chain, r.Spec...)
		if err != nil {
			return fmt.Errorf("check iptables rule %s: %w", r, err)
		}
		if r.First {
			first = append(first, r)
			firstMissing = firstMissing || !ok
			continue
		}
		if !ok {
			if err := h.IPT.Append(r.Table, r.Chain, r.Spec...); err != nil {
				return fmt.Errorf("add iptables rule %s: %w", r, err)
			}
			h.log().Info("added iptables rule", logging.KeyValue, r.String())
		}
	}
	if !firstMissing {
		return nil
	}
	for _, r := range first {
		for {
			ok, err := h.IPT.Exists(r.Table, r.Chain, r.Spec...)
			if err != nil {
				return fmt.Errorf("check iptables rule %s: %w", r, err)
			}
			if !ok {
				break
			}
			if err := h.IPT.Delete(r.Table, r.Chain, r.Spec...); err != nil {
				return fmt.Errorf("reorder iptables rule %s: %w", r, err)
			}
		}
	}
	for _, r := range first {
		if err := h.IPT.Insert(r.Table, r.Chain, 1, r.Spec...); err != nil {
			return fmt.Errorf("add iptables rule %s: %w", r, err)
		}
		h.log().Info("added iptables rule", logging.KeyValue, r.String())
	}
	return nil
}

// PostStop removes every rule tagged with RuleComment from the chains
// pre-start uses: exactly what pre-start added, under any configuration.
// route_localnet stays on: other software (kube-proxy, a second agent) may
// rely on it, and the incumbent leaves it too.
func (h *Host) PostStop(_ context.Context) error {
	var errs []error
	for _, tc := range managedChains {
		table, chain := tc[0], tc[1]
		lines, err := h.IPT.List(table, chain)
		if err != nil {
			errs = append(errs, fmt.Errorf("list iptables %s %s: %w", table, chain, err))
			continue
		}
		for _, line := range lines {
			spec, ok := ownRule(line, chain)
			if !ok {
				continue
			}
			if err := h.IPT.Delete(table, chain, spec...); err != nil {
				errs = append(errs, fmt.Errorf("delete iptables rule -t %s %s: %w", table, line, err))
				continue
			}
			h.log().Info("removed iptables rule", logging.KeyValue, "-t "+table+" "+line)
		}
	}
	return errors.Join(errs...)
}

// ownRule turns a listed rule ("-A CHAIN spec...") into its spec when it
// carries ecs-init's comment. Our rules contain no quoted words, so the
// fields split cleanly; a rule with a quoted comment is someone else's.
func ownRule(line, chain string) ([]string, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "-A" || f[1] != chain {
		return nil, false
	}
	spec := f[2:]
	for i := 0; i+1 < len(spec); i++ {
		if spec[i] == "--comment" && spec[i+1] == RuleComment {
			return spec, true
		}
	}
	return nil, false
}

func (h *Host) setSysctl(name, value string) error {
	root := h.ProcSys
	if root == "" {
		root = "/proc/sys"
	}
	p := filepath.Join(root, name)
	cur, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read sysctl %s: %w", strings.ReplaceAll(name, "/", "."), err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	h.log().Info("set sysctl", logging.KeyKey, strings.ReplaceAll(name, "/", "."), logging.KeyValue, value)
	return nil
}
