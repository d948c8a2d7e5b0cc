package payload

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// The agent unmarshals dockerConfig.config and hostConfig over the
// container.Config and HostConfig it builds from the other members, so the
// JSON carries only what is set: every field is omitempty, and a zero value
// would otherwise overwrite what the agent computed.

// Health check defaults of ECS (Docker's own timeout default is 30 s).
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

const mib = 1 << 20

// dockerHealthcheck is Docker's HealthConfig; durations in nanoseconds.
type dockerHealthcheck struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// dockerConfig is the subset of Docker's container.Config set from a
// container definition.
type dockerConfig struct {
	Hostname        string             `json:"Hostname,omitempty"`
	User            string             `json:"User,omitempty"`
	WorkingDir      string             `json:"WorkingDir,omitempty"`
	Labels          map[string]string  `json:"Labels,omitempty"`
	Healthcheck     *dockerHealthcheck `json:"Healthcheck,omitempty"`
	Tty             bool               `json:"Tty,omitempty"`
	OpenStdin       bool               `json:"OpenStdin,omitempty"`
	NetworkDisabled bool               `json:"NetworkDisabled,omitempty"`
}

type dockerLogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config,omitempty"`
}

type dockerUlimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

type dockerDevice struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// dockerHostConfig is the subset of Docker's HostConfig set from a
// container definition. Memory, CPU shares, ports, links and binds are left
// to the agent, which computes them from the container's own members.
type dockerHostConfig struct {
	MemoryReservation int64             `json:"MemoryReservation,omitempty"`
	MemorySwap        int64             `json:"MemorySwap,omitempty"`
	MemorySwappiness  *int64            `json:"MemorySwappiness,omitempty"`
	LogConfig         *dockerLogConfig  `json:"LogConfig,omitempty"`
	Ulimits           []dockerUlimit    `json:"Ulimits,omitempty"`
	CapAdd            []string          `json:"CapAdd,omitempty"`
	CapDrop           []string          `json:"CapDrop,omitempty"`
	Init              *bool             `json:"Init,omitempty"`
	ShmSize           int64             `json:"ShmSize,omitempty"`
	Tmpfs             map[string]string `json:"Tmpfs,omitempty"`
	Devices           []dockerDevice    `json:"Devices,omitempty"`
	ReadonlyRootfs    bool              `json:"ReadonlyRootfs,omitempty"`
	DNS               []string          `json:"Dns,omitempty"`
	DNSSearch         []string          `json:"DnsSearch,omitempty"`
	ExtraHosts        []string          `json:"ExtraHosts,omitempty"`
	SecurityOpt       []string          `json:"SecurityOpt,omitempty"`
	Privileged        bool              `json:"Privileged,omitempty"`
	Sysctls           map[string]string `json:"Sysctls,omitempty"`
}

// minAPI tracks the lowest Docker API version that has every field used.
type minAPI struct{ minor int }

func (m *minAPI) need(minor int) { m.minor = max(m.minor, minor) }

func (m minAPI) String() string { return "1." + strconv.Itoa(max(m.minor, 17)) }

// dockerConfigFor builds the dockerConfig member of a container.
func dockerConfigFor(c store.ContainerDefinition) (*wire.DockerConfig, error) {
	var api minAPI
	cfg := dockerConfig{
		Hostname:        c.Hostname,
		User:            c.User,
		WorkingDir:      c.WorkingDirectory,
		Tty:             isTrue(c.PseudoTerminal),
		OpenStdin:       isTrue(c.Interactive),
		NetworkDisabled: isTrue(c.DisableNetworking),
	}
	if len(c.DockerLabels) > 0 {
		cfg.Labels = maps.Clone(c.DockerLabels)
		api.need(18)
	}
	if hc := c.HealthCheck; hc != nil {
		cfg.Healthcheck = &dockerHealthcheck{
			Test:        slices.Clone(hc.Command),
			Interval:    seconds(intOr(hc.Interval, defaultHealthInterval)),
			Timeout:     seconds(intOr(hc.Timeout, defaultHealthTimeout)),
			StartPeriod: seconds(intOr(hc.StartPeriod, 0)),
			Retries:     intOr(hc.Retries, defaultHealthRetries),
		}
		api.need(24)
	}
	host := hostConfigFor(c, &api)

	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode docker config of container %s: %w", c.Name, err)
	}
	hostJSON, err := json.Marshal(host)
	if err != nil {
		return nil, fmt.Errorf("encode docker host config of container %s: %w", c.Name, err)
	}
	return &wire.DockerConfig{Version: api.String(), Config: string(cfgJSON), HostConfig: string(hostJSON)}, nil
}

func hostConfigFor(c store.ContainerDefinition, api *minAPI) dockerHostConfig {
	host := dockerHostConfig{
		ReadonlyRootfs: isTrue(c.ReadonlyRootFilesystem),
		Privileged:     isTrue(c.Privileged),
		DNS:            slices.Clone(c.DNSServers),
		DNSSearch:      slices.Clone(c.DNSSearchDomains),
		SecurityOpt:    slices.Clone(c.DockerSecurityOptions),
	}
	if c.MemoryReservation != nil {
		host.MemoryReservation = int64(*c.MemoryReservation) * mib
		api.need(21)
	}
	if lc := c.LogConfiguration; lc != nil {
		host.LogConfig = &dockerLogConfig{Type: lc.LogDriver, Config: maps.Clone(lc.Options)}
		api.need(18)
	}
	for _, u := range c.Ulimits {
		host.Ulimits = append(host.Ulimits, dockerUlimit{Name: u.Name, Soft: int64(u.SoftLimit), Hard: int64(u.HardLimit)})
		api.need(18)
	}
	for _, h := range c.ExtraHosts {
		host.ExtraHosts = append(host.ExtraHosts, h.Hostname+":"+h.IPAddress)
	}
	for _, sc := range c.SystemControls {
		if host.Sysctls == nil {
			host.Sysctls = map[string]string{}
		}
		host.Sysctls[sc.Namespace] = sc.Value
		api.need(24)
	}
	if lp := c.LinuxParameters; lp != nil {
		linuxHostConfig(lp, c.Memory, &host, api)
	}
	return host
}

func linuxHostConfig(lp *store.LinuxParameters, memoryMiB *int, host *dockerHostConfig, api *minAPI) {
	if caps := lp.Capabilities; caps != nil {
		host.CapAdd = slices.Clone(caps.Add)
		host.CapDrop = slices.Clone(caps.Drop)
	}
	if lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
		t := true
		host.Init = &t
		api.need(25)
	}
	if lp.SharedMemorySize != nil {
		host.ShmSize = int64(*lp.SharedMemorySize) * mib
		api.need(22)
	}
	for _, t := range lp.Tmpfs {
		if host.Tmpfs == nil {
			host.Tmpfs = map[string]string{}
		}
		opts := append([]string{"size=" + strconv.Itoa(t.Size) + "m"}, t.MountOptions...)
		host.Tmpfs[t.ContainerPath] = strings.Join(opts, ",")
		api.need(22)
	}
	for _, d := range lp.Devices {
		host.Devices = append(host.Devices, dockerDevice{
			PathOnHost:        d.HostPath,
			PathInContainer:   cmp.Or(d.ContainerPath, d.HostPath),
			CgroupPermissions: cgroupPermissions(d.Permissions),
		})
	}
	if lp.MaxSwap != nil && memoryMiB != nil {
		// ECS maxSwap is the swap alone; Docker's MemorySwap is memory plus
		// swap, and needs a memory limit to mean anything.
		host.MemorySwap = int64(*memoryMiB+*lp.MaxSwap) * mib
	}
	if lp.Swappiness != nil {
		s := int64(*lp.Swappiness)
		host.MemorySwappiness = &s
	}
}

// cgroupPermissions turns ECS device permissions into Docker's "rwm"; none
// means all, as in ECS.
func cgroupPermissions(perms []string) string {
	if len(perms) == 0 {
		return "rwm"
	}
	var b strings.Builder
	for _, p := range []struct{ name, letter string }{{"read", "r"}, {"write", "w"}, {"mknod", "m"}} {
		if slices.Contains(perms, p.name) {
			b.WriteString(p.letter)
		}
	}
	return b.String()
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func isTrue(p *bool) bool { return p != nil && *p }
