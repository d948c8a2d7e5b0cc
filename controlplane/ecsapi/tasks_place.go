package ecsapi

import (
	"slices"
	"strconv"
	"strings"

	"github.com/open-ecs/ecs-agent/controlplane/payload"
	"github.com/open-ecs/ecs-agent/controlplane/scheduler"
	"github.com/open-ecs/ecs-agent/controlplane/store"
)

// taskNeed is what a task of td (overrides applied) reserves on its
// instance.
func taskNeed(td store.TaskDefinition) scheduler.Resources {
	var containers []scheduler.ContainerNeed
	for _, c := range td.ContainerDefinitions {
		n := scheduler.ContainerNeed{CPU: c.CPU, Memory: deref(c.Memory), MemoryReservation: deref(c.MemoryReservation), GPUs: containerGPUs(c)}
		for _, pm := range c.PortMappings {
			port := staticHostPort(td.NetworkMode, pm)
			if port == 0 {
				continue
			}
			if pm.Protocol == "udp" {
				n.PortsUDP = append(n.PortsUDP, port)
			} else {
				n.PortsTCP = append(n.PortsTCP, port)
			}
		}
		containers = append(containers, n)
	}
	// Validated at registration (task definition) or by payload.Resolve
	// (overrides).
	cpu, _ := payload.ParseCPU(td.CPU)
	mem, _ := payload.ParseMemory(td.Memory)
	return scheduler.TaskNeed(cpu, mem, containers)
}

// staticHostPort is the host port a mapping pins, or 0 for a dynamic one:
// in host mode the container port itself, in bridge mode an explicit
// hostPort. Ranges are always dynamic here.
func staticHostPort(networkMode string, pm store.PortMapping) int {
	if pm.ContainerPortRange != "" {
		return 0
	}
	if networkMode == store.NetworkModeHost {
		if pm.HostPort != nil && *pm.HostPort != 0 {
			return *pm.HostPort
		}
		return deref(pm.ContainerPort)
	}
	if networkMode == store.NetworkModeNone {
		return 0
	}
	return deref(pm.HostPort)
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// placementState reads what placement decides on: the cluster's instances
// and its tasks that are not STOPPED (stopped ones hold nothing).
//
// The instances are shared with the store's cache (InstancesShared):
// placement, the service scheduler and RunTask's plan only read them.
func placementState(tx store.Tx, cluster string) ([]store.ContainerInstance, []store.LiveTask, error) {
	instances, err := tx.InstancesShared(cluster)
	if err != nil {
		return nil, nil, internal("list container instances", err)
	}
	live, err := tx.LiveTaskSummaries(cluster, "")
	if err != nil {
		return nil, nil, internal("list tasks", err)
	}
	return instances, live, nil
}

// placementInstances turns a cluster's instances and tasks into the
// scheduler's candidates: what each registered, what its tasks that are
// not STOPPED hold, and the facts the cluster query language reads.
func placementInstances(instances []store.ContainerInstance, tasks []store.LiveTask) []scheduler.Instance {
	return buildCandidates(instances, tasks, newAttributeMap)
}

// candidates is placementInstances with the attribute maps the API
// remembers, for the calls that place on every instance of a cluster
// again and again (RunTask, the service rounds).
func (a *API) candidates(instances []store.ContainerInstance, tasks []store.LiveTask) []scheduler.Instance {
	return buildCandidates(instances, tasks, a.attrMaps.of)
}

func buildCandidates(instances []store.ContainerInstance, tasks []store.LiveTask,
	attributes func(store.ContainerInstance) map[string]string) []scheduler.Instance {
	return newPlacementView(instances, tasks, attributes).cands
}

// placementView is placement's view of a cluster's instances, built once
// from the instances and live tasks a transaction read and then kept up
// to date as the transaction places more tasks (add): a service round
// places the tasks of many services in one transaction, and rebuilding
// the view of every instance from every live task for each of them was
// most of the time it held the write lock.
type placementView struct {
	cands []scheduler.Instance
	byARN map[string]*scheduler.Instance
}

func newPlacementView(instances []store.ContainerInstance, tasks []store.LiveTask,
	attributes func(store.ContainerInstance) map[string]string) *placementView {
	v := &placementView{cands: make([]scheduler.Instance, 0, len(instances)), byARN: make(map[string]*scheduler.Instance, len(instances))}
	for _, ci := range instances {
		v.cands = append(v.cands, scheduler.Instance{
			ARN:            ci.ARN,
			EC2InstanceID:  ci.EC2InstanceID,
			Attributes:     attributes(ci),
			Active:         ci.Status == store.StatusActive,
			AgentConnected: ci.AgentConnected,
			Registered:     registeredResources(ci.RegisteredResources),
			Groups:         map[string]int{},
			AgentVersion:   ci.VersionInfo.AgentVersion,
			RegisteredAt:   ci.RegisteredAt,
		})
	}
	for i := range v.cands {
		v.byARN[v.cands[i].ARN] = &v.cands[i]
	}
	for _, t := range tasks {
		v.add(t)
	}
	return v
}

// add counts what t holds on its instance, unless it is STOPPED.
func (v *placementView) add(t store.LiveTask) {
	si := v.byARN[t.ContainerInstanceARN]
	if si == nil || t.LastStatus == store.TaskStopped {
		return
	}
	si.Used.CPU += t.Reserved.CPU
	si.Used.MemoryMiB += t.Reserved.MemoryMiB
	si.Used.PortsTCP = append(si.Used.PortsTCP, t.Reserved.PortsTCP...)
	si.Used.PortsUDP = append(si.Used.PortsUDP, t.Reserved.PortsUDP...)
	si.Groups[t.Group]++
	if t.LastStatus == store.TaskRunning {
		si.RunningTasks++
	}
}

// candidates returns the view's instances for a caller that may change
// what each holds (reserveForDaemons adds to it): a copy whose port lists
// grow into arrays of their own. Their attribute and group maps are
// shared, to be read only.
func (v *placementView) candidates() []scheduler.Instance {
	out := slices.Clone(v.cands)
	for i := range out {
		out[i].Used.PortsTCP = slices.Clip(out[i].Used.PortsTCP)
		out[i].Used.PortsUDP = slices.Clip(out[i].Used.PortsUDP)
	}
	return out
}

func registeredResources(res []store.Resource) scheduler.Resources {
	var r scheduler.Resources
	for _, x := range res {
		switch x.Name {
		case "CPU":
			r.CPU = int(x.IntegerValue)
		case "MEMORY":
			r.MemoryMiB = int(x.IntegerValue)
		case "PORTS":
			r.PortsTCP = parsePorts(x.StringSetValue)
		case "PORTS_UDP":
			r.PortsUDP = parsePorts(x.StringSetValue)
		}
	}
	return r
}

func parsePorts(ss []string) []int {
	var out []int
	for _, s := range ss {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// remainingResources is registered minus what the instance's tasks that
// are not STOPPED hold, in the ECS Resource shape.
func remainingResources(registered []store.Resource, tasks []store.LiveTask) []store.Resource {
	var cpu, mem int
	var tcp, udp []int
	for _, t := range tasks {
		if t.LastStatus == store.TaskStopped {
			continue
		}
		cpu += t.Reserved.CPU
		mem += t.Reserved.MemoryMiB
		tcp = append(tcp, t.Reserved.PortsTCP...)
		udp = append(udp, t.Reserved.PortsUDP...)
	}
	out := make([]store.Resource, 0, len(registered))
	for _, r := range registered {
		switch r.Name {
		case "CPU":
			r.IntegerValue -= int32(cpu)
		case "MEMORY":
			r.IntegerValue -= int32(mem)
		case "PORTS":
			r.StringSetValue = appendPorts(r.StringSetValue, tcp)
		case "PORTS_UDP":
			r.StringSetValue = appendPorts(r.StringSetValue, udp)
		}
		out = append(out, r)
	}
	return out
}

// appendPorts adds the ports tasks hold to the unavailable ones, as ECS
// shows them in remainingResources.
func appendPorts(set []string, ports []int) []string {
	out := append([]string{}, set...)
	for _, p := range ports {
		out = append(out, strconv.Itoa(p))
	}
	return out
}

// tasksByInstance groups a cluster's tasks that are not STOPPED by
// container instance ARN: the only ones an instance's view counts.
func tasksByInstance(tx store.Tx, cluster string) (map[string][]store.LiveTask, error) {
	tasks, err := tx.LiveTaskSummaries(cluster, "")
	if err != nil {
		return nil, internal("list tasks", err)
	}
	out := map[string][]store.LiveTask{}
	for _, t := range tasks {
		out[t.ContainerInstanceARN] = append(out[t.ContainerInstanceARN], t)
	}
	return out, nil
}

// withTasks fills in what an instance's tasks change in its view: the
// remaining resources and the running and pending counts.
func withTasks(out instanceOut, registered []store.Resource, tasks []store.LiveTask) instanceOut {
	out.RemainingResources = remainingResources(registered, tasks)
	for _, t := range tasks {
		switch t.LastStatus {
		case store.TaskRunning:
			out.RunningTasksCount++
		case store.TaskPending:
			out.PendingTasksCount++
		}
	}
	return out
}

// refuseWithTasks fails a deregistration without force while the instance
// has tasks that are not STOPPED.
func (a *API) refuseWithTasks(tx store.Tx, ci store.ContainerInstance) error {
	tasks, err := tx.LiveTasks(ci.Cluster, ci.ARN)
	if err != nil {
		return internal("list tasks", err)
	}
	if len(tasks) > 0 {
		return invalidParam("Found running tasks on the instance: stop them first, or deregister with force to orphan them.")
	}
	return nil
}

// Launch types. FARGATE has no instances to run on here.
const (
	launchTypeEC2      = "EC2"
	launchTypeExternal = "EXTERNAL"
)

// launchType is the task's launch type.
func (l *launch) launchType() string { return normalLaunchType(l.in.LaunchType) }

// normalLaunchType is a request's launch type as stored: EC2 unless it
// says EXTERNAL (ECS's default without a capacity provider strategy).
func normalLaunchType(requested string) string {
	if requested == launchTypeExternal {
		return launchTypeExternal
	}
	return launchTypeEC2
}

// checkCompatibility refuses to launch td as launchType when its
// requiresCompatibilities leave that type out.
func checkCompatibility(td store.TaskDefinition, launchType string) error {
	if len(td.RequiresCompatibilities) > 0 && !slices.Contains(td.RequiresCompatibilities, launchType) {
		return invalidParam("Task definition %s does not support launch type %s: its requiresCompatibilities are %s.",
			td.ARN, launchType, strings.Join(td.RequiresCompatibilities, ", "))
	}
	return nil
}

// schedulerNeed is what the scheduler must find room for: the task's
// resources, its group (for distinctInstance and spread) and the
// attributes an instance needs to run it. Those are the ones stored at
// registration plus the ones of the task as it will run, overrides
// applied: an override (a taskRoleArn, say) can ask for a feature the
// definition does not use.
func (l *launch) schedulerNeed() scheduler.Need {
	n := scheduler.Need{Resources: l.need, Group: l.group, External: l.launchType() == launchTypeExternal}
	seen := map[string]bool{}
	for _, a := range slices.Concat(l.td.RequiresAttributes, requiredAttributes(l.resolved)) {
		key := a.Name + "=" + ptrValue(a.Value)
		if seen[key] {
			continue
		}
		seen[key] = true
		n.Attributes = append(n.Attributes, scheduler.RequiredAttribute{Name: a.Name, Value: a.Value})
	}
	return n
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// serviceLaunchType is the launch type of svc's tasks; services stored
// before EXTERNAL existed hold EC2.
func serviceLaunchType(svc store.Service) string { return normalLaunchType(svc.LaunchType) }
