package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	rt "github.com/open-ecs/ecs-agent/engine/runtime"
)

// Docker labels the engine puts on every container it creates.
const (
	LabelTaskARN        = "com.amazonaws.ecs.task-arn"
	LabelContainerName  = "com.amazonaws.ecs.container-name"
	LabelTaskDefFamily  = "com.amazonaws.ecs.task-definition-family"
	LabelTaskDefVersion = "com.amazonaws.ecs.task-definition-version"
	LabelCluster        = "com.amazonaws.ecs.cluster"
)

const (
	minCPUShares = 2
	maxCPUShares = 262144
)

// overlays are a container's dockerConfig.config and hostConfig, decoded.
type overlays struct {
	config, host map[string]any
}

func parseOverlays(c *container) (overlays, error) {
	var ov overlays
	for _, p := range []struct {
		raw   string
		dst   *map[string]any
		field string
	}{{c.DockerConfig.Config, &ov.config, "dockerConfig.config"}, {c.DockerConfig.HostConfig, &ov.host, "dockerConfig.hostConfig"}} {
		if strings.TrimSpace(p.raw) == "" {
			continue
		}
		if err := json.Unmarshal([]byte(p.raw), p.dst); err != nil {
			return ov, fmt.Errorf("container %q: %s is not a JSON object: %w", c.Name, p.field, err)
		}
	}
	return ov, nil
}

// lookup finds key case-insensitively, as Docker's own decoder would.
func lookup(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func (o overlays) privileged() bool {
	v, _ := lookup(o.host, "Privileged")
	b, _ := v.(bool)
	return b
}

func (o overlays) logDriver() string {
	v, _ := lookup(o.host, "LogConfig")
	lc, _ := v.(map[string]any)
	t, _ := lookup(lc, "Type")
	s, _ := t.(string)
	return s
}

func (o overlays) hasHealthcheck() bool {
	v, ok := lookup(o.config, "Healthcheck")
	return ok && v != nil
}

// checkMemoryFloor refuses a hostConfig Memory or MemoryReservation (bytes)
// that is set but below what Docker accepts, which would fail the create.
func (o overlays) checkMemoryFloor(container string) error {
	for _, key := range []string{"Memory", "MemoryReservation"} {
		v, _ := lookup(o.host, key)
		if f, _ := v.(float64); f > 0 && f < dockerMinMemoryMiB<<20 {
			return fmt.Errorf("container %q: dockerConfig.hostConfig %s %.0f bytes is below Docker's minimum of %d bytes (%d MiB)",
				container, key, f, dockerMinMemoryMiB<<20, dockerMinMemoryMiB)
		}
	}
	return nil
}

// dockerMeta is what readers see of a container's dockerConfig: its Docker
// labels and log configuration. It is derived once per container (the
// overlays never change) and kept in memory only.
type dockerMeta struct {
	labels     map[string]string
	logDriver  string
	logOptions map[string]string
}

func (c *container) dockerMeta() *dockerMeta {
	if c.meta != nil {
		return c.meta
	}
	m := &dockerMeta{}
	ov, _ := parseOverlays(c) // fromWire refused a container whose overlays do not parse
	if v, ok := lookup(ov.config, "Labels"); ok {
		if labels, ok := v.(map[string]any); ok {
			m.labels = stringMap(labels)
		}
	}
	if v, ok := lookup(ov.host, "LogConfig"); ok {
		if lc, ok := v.(map[string]any); ok {
			if t, ok := lookup(lc, "Type"); ok {
				m.logDriver, _ = t.(string)
			}
			if o, ok := lookup(lc, "Config"); ok {
				if opts, ok := o.(map[string]any); ok {
					m.logOptions = stringMap(opts)
				}
			}
		}
	}
	c.meta = m
	return m
}

// stringMap keeps the string values of a decoded JSON object.
func stringMap(m map[string]any) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// memoryReservationMiB is hostConfig.MemoryReservation in MiB, or 0.
func (o overlays) memoryReservationMiB() int {
	v, _ := lookup(o.host, "MemoryReservation")
	f, _ := v.(float64)
	return int(f) >> 20
}

// merge overlays src onto dst: objects merge key by key (keys matched
// case-insensitively), every other value replaces.
func merge(dst, src map[string]any) {
	for k, sv := range src {
		dk := k
		for existing := range dst {
			if strings.EqualFold(existing, k) {
				dk = existing
				break
			}
		}
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[dk].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[dk] = sv
	}
}

// specInput is what buildSpec needs besides the container.
type specInput struct {
	task  *task
	cfg   *config.Config
	ports []NetworkBinding // host ports chosen for c.PortMappings
	// metadataBind mounts the container metadata file's directory;
	// metadataFile is the file's path inside. "" when the files are off.
	metadataBind, metadataFile string
}

// buildSpec builds the docker create body for c: base config, then the
// dockerConfig overlays, then the ECS labels, which always win.
func buildSpec(c *container, in specInput) (rt.CreateSpec, error) {
	t := in.task
	ov, err := parseOverlays(c)
	if err != nil {
		return rt.CreateSpec{}, err
	}
	cfg := map[string]any{"Image": c.Image}
	if c.Command != nil {
		cfg["Cmd"] = c.Command
	}
	if c.EntryPoint != nil {
		cfg["Entrypoint"] = c.EntryPoint
	}
	cfg["Env"] = environment(c, in)

	host := map[string]any{}
	exposed := map[string]any{}
	bindings := map[string]any{}
	for _, b := range in.ports {
		cport, hport, count := b.ContainerPort, b.HostPort, 1
		if b.ContainerPortRange != "" {
			lo, hi, _ := parseRange(b.ContainerPortRange)
			hlo, _, _ := parseRange(b.HostPortRange)
			cport, hport, count = lo, hlo, hi-lo+1
		}
		for i := range count {
			k := fmt.Sprintf("%d/%s", cport+i, b.Protocol)
			exposed[k] = map[string]any{}
			if t.NetworkMode == networkBridge {
				bindings[k] = []any{map[string]any{"HostIp": "", "HostPort": strconv.Itoa(hport + i)}}
			}
		}
	}
	if len(exposed) > 0 {
		cfg["ExposedPorts"] = exposed
	}
	if len(bindings) > 0 {
		host["PortBindings"] = bindings
	}
	host["NetworkMode"] = t.NetworkMode

	var links []any
	for _, l := range c.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		dep := t.container(name)
		if dep == nil || dep.DockerName == "" {
			return rt.CreateSpec{}, fmt.Errorf("link %q: container %q has no docker container yet", l, name)
		}
		links = append(links, dep.DockerName+":"+alias)
	}
	if links != nil {
		host["Links"] = links
	}
	var binds []any
	for _, mp := range c.MountPoints {
		v := t.volume(mp.SourceVolume)
		src := v.SourcePath
		if v.Kind != volumeHost {
			src = v.DockerName
		}
		b := src + ":" + mp.ContainerPath
		if mp.ReadOnly {
			b += ":ro"
		}
		binds = append(binds, b)
	}
	if in.metadataBind != "" {
		binds = append(binds, in.metadataBind)
	}
	if binds != nil {
		host["Binds"] = binds
	}
	var from []any
	for _, vf := range c.VolumesFrom {
		dep := t.container(vf.SourceContainer)
		if dep == nil || dep.DockerName == "" {
			return rt.CreateSpec{}, fmt.Errorf("volumesFrom: container %q has no docker container yet", vf.SourceContainer)
		}
		s := dep.DockerName
		if vf.ReadOnly {
			s += ":ro"
		}
		from = append(from, s)
	}
	if from != nil {
		host["VolumesFrom"] = from
	}
	if c.Memory > 0 {
		// At least Docker's floor: fromWire refuses less.
		host["Memory"] = int64(c.Memory) << 20
	}
	host["CpuShares"] = min(max(c.CPU, minCPUShares), maxCPUShares)
	if c.Privileged {
		host["Privileged"] = true
	}
	if t.PIDMode != "" {
		host["PidMode"] = t.PIDMode
	}
	if t.IPCMode != "" {
		host["IpcMode"] = t.IPCMode
	}
	if t.CgroupParent != "" {
		host["CgroupParent"] = t.CgroupParent
	}
	applyLinuxParameters(host, c.LinuxParameters)

	// dockerConfig comes last but for the labels: what the backend put
	// there is the most specific statement of what the container needs.
	merge(cfg, ov.config)
	merge(host, ov.host)
	labels := map[string]any{}
	if v, ok := lookup(cfg, "Labels"); ok {
		if m, ok := v.(map[string]any); ok {
			labels = m
		}
		for k := range cfg {
			if strings.EqualFold(k, "Labels") {
				delete(cfg, k)
			}
		}
	}
	for k, v := range ecsLabels(t, c, in.cfg) {
		labels[k] = v
	}
	cfg["Labels"] = labels

	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return rt.CreateSpec{}, fmt.Errorf("encode container config: %w", err)
	}
	rawHost, err := json.Marshal(host)
	if err != nil {
		return rt.CreateSpec{}, fmt.Errorf("encode host config: %w", err)
	}
	return rt.CreateSpec{Name: c.DockerName, Config: rawCfg, HostConfig: rawHost}, nil
}

func ecsLabels(t *task, c *container, cfg *config.Config) map[string]string {
	return map[string]string{
		LabelTaskARN:        t.ARN,
		LabelContainerName:  c.Name,
		LabelTaskDefFamily:  t.Family,
		LabelTaskDefVersion: t.Version,
		LabelCluster:        cfg.Cluster,
	}
}

// environment is the container's Env: its environment map plus what the
// agent injects, sorted so that the create body is deterministic. The task
// metadata and credentials URIs replace any the task set itself: they are
// how the container finds its own task, and nothing else may answer there.
func environment(c *container, in specInput) []string {
	env := maps.Clone(c.Environment)
	if env == nil {
		env = map[string]string{}
	}
	env["AWS_EXECUTION_ENV"] = "AWS_ECS_EC2"
	if r := in.cfg.AWSRegion; r != "" {
		_, r1 := env["AWS_REGION"]
		_, r2 := env["AWS_DEFAULT_REGION"]
		if !r1 && !r2 {
			env["AWS_REGION"] = r
			env["AWS_DEFAULT_REGION"] = r
		}
	}
	base := taskEndpoint(in.task.NetworkMode, in.cfg)
	env["ECS_CONTAINER_METADATA_URI"] = base + "/v3/" + c.EndpointID
	env["ECS_CONTAINER_METADATA_URI_V4"] = base + "/v4/" + c.EndpointID
	if id := in.task.CredentialsID; id != "" {
		env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = CredentialsPath + id
	}
	if in.metadataFile != "" {
		env["ECS_CONTAINER_METADATA_FILE"] = in.metadataFile
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// CredentialsPath is where a task's role credentials are served, followed
// by their ID.
const CredentialsPath = "/v2/credentials/"

// TaskEndpointIP is the link-local address tasks reach the task metadata
// endpoint at; ecs-init's rules forward it to 127.0.0.1:51679.
const TaskEndpointIP = "169.254.170.2"

// taskEndpoint is the base URL of the task metadata endpoint for a task's
// containers. Bridge-mode containers can only go through 169.254.170.2,
// which ecs-init forwards to port 51679. Host-mode containers share the
// host's loopback, so when the endpoint was moved (ECS_TASK_METADATA_ADDR)
// they get its address instead, which they reach without any rule.
func taskEndpoint(networkMode string, cfg *config.Config) string {
	addr := cfg.TaskMetadataAddr
	if networkMode != networkHost || addr == "" || addr == config.DefaultTaskMetadataAddr {
		return "http://" + TaskEndpointIP
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + TaskEndpointIP // Config validated it; unreachable
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// applyLinuxParameters sets the HostConfig fields of a container's
// linuxParameters. Amazon ECS may also send some of them inside
// dockerConfig.hostConfig; that overlay is merged afterwards and wins.
func applyLinuxParameters(host map[string]any, lp *wire.LinuxParameters) {
	if lp == nil {
		return
	}
	if caps := lp.Capabilities; caps != nil {
		if len(caps.Add) > 0 {
			host["CapAdd"] = caps.Add
		}
		if len(caps.Drop) > 0 {
			host["CapDrop"] = caps.Drop
		}
	}
	if lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
		host["Init"] = true
	}
	if lp.SharedMemorySize != nil && *lp.SharedMemorySize > 0 {
		host["ShmSize"] = int64(*lp.SharedMemorySize) << 20
	}
	var devices []any
	for _, d := range lp.Devices {
		perms := ""
		for _, p := range d.Permissions {
			if p != "" {
				perms += string(p)[:1] // read → r, write → w, mknod → m
			}
		}
		if perms == "" {
			perms = "rwm"
		}
		inside := d.ContainerPath
		if inside == "" {
			inside = d.HostPath
		}
		devices = append(devices, map[string]any{
			"PathOnHost": d.HostPath, "PathInContainer": inside, "CgroupPermissions": perms,
		})
	}
	if devices != nil {
		host["Devices"] = devices
	}
}
