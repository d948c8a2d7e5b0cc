package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

var (
	cpuReservationDesc = prometheus.NewDesc("ecs_cluster_cpu_reservation_percent",
		"CPU units reserved by the cluster's tasks that are not STOPPED, in percent of the CPU units its ACTIVE and DRAINING instances registered (CloudWatch's CPUReservation).",
		[]string{"cluster"}, nil)
	cpuUtilizationDesc = prometheus.NewDesc("ecs_cluster_cpu_utilization_percent",
		"CPU units the cluster's tasks use (agents' latest windows; 100 % of one CPU is 1024 units), in percent of the CPU units its ACTIVE and DRAINING instances registered (CloudWatch's CPUUtilization).",
		[]string{"cluster"}, nil)
	memoryReservationDesc = prometheus.NewDesc("ecs_cluster_memory_reservation_percent",
		"Memory reserved by the cluster's tasks that are not STOPPED, in percent of the memory its ACTIVE and DRAINING instances registered (CloudWatch's MemoryReservation).",
		[]string{"cluster"}, nil)
	memoryUtilizationDesc = prometheus.NewDesc("ecs_cluster_memory_utilization_percent",
		"Memory the cluster's tasks use (agents' latest windows), in percent of the memory its ACTIVE and DRAINING instances registered (CloudWatch's MemoryUtilization).",
		[]string{"cluster"}, nil)
)

// clusterCollector computes the CloudWatch cluster metrics at scrape time.
type clusterCollector struct {
	store store.Store
	src   ContainerSource
}

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cpuReservationDesc, cpuUtilizationDesc, memoryReservationDesc, memoryUtilizationDesc} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	var instances []store.ContainerInstance
	var tasks []store.Task
	err := c.store.View(func(tx store.Tx) error {
		var err error
		if instances, err = tx.Instances(""); err != nil {
			return err
		}
		// Only tasks that are not STOPPED count, and an hour of stopped
		// history must not weigh on every scrape: read the live index.
		seen := map[string]bool{}
		for _, ci := range instances {
			if seen[ci.Cluster] {
				continue
			}
			seen[ci.Cluster] = true
			live, err := tx.LiveTasks(ci.Cluster, "")
			if err != nil {
				return err
			}
			tasks = append(tasks, live...)
		}
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(cpuReservationDesc, err)
		return
	}
	for name, u := range usageByCluster(instances, tasks, c.src.Containers()) {
		if u.registeredCPU > 0 {
			ch <- prometheus.MustNewConstMetric(cpuReservationDesc, prometheus.GaugeValue, 100*u.reservedCPU/u.registeredCPU, name)
			ch <- prometheus.MustNewConstMetric(cpuUtilizationDesc, prometheus.GaugeValue, 100*u.usedCPU/u.registeredCPU, name)
		}
		if u.registeredMemory > 0 {
			ch <- prometheus.MustNewConstMetric(memoryReservationDesc, prometheus.GaugeValue, 100*u.reservedMemory/u.registeredMemory, name)
			ch <- prometheus.MustNewConstMetric(memoryUtilizationDesc, prometheus.GaugeValue, 100*u.usedMemory/u.registeredMemory, name)
		}
	}
}

// usage is one cluster's CPU (units) and memory (MiB).
type usage struct {
	registeredCPU, reservedCPU, usedCPU          float64
	registeredMemory, reservedMemory, usedMemory float64
}

// cpuUnitsPerCPU converts the agents' percent of one CPU into CPU units.
const cpuUnitsPerCPU = 1024

// usageByCluster adds up, per cluster name, what CloudWatch's ECS cluster
// metrics divide: the CPU and memory registered by ACTIVE and DRAINING
// instances, reserved by the tasks on them that are not STOPPED, and used
// by the containers of those tasks in the agents' latest windows.
func usageByCluster(instances []store.ContainerInstance, tasks []store.Task, containers []telemetry.Container) map[string]*usage {
	out := map[string]*usage{}
	counted := map[string]bool{}
	for _, ci := range instances {
		if ci.Status != store.StatusActive && ci.Status != store.StatusDraining {
			continue
		}
		counted[ci.ARN] = true
		u := out[ci.Cluster]
		if u == nil {
			u = &usage{}
			out[ci.Cluster] = u
		}
		u.registeredCPU += resource(ci.RegisteredResources, "CPU")
		u.registeredMemory += resource(ci.RegisteredResources, "MEMORY")
	}
	for _, t := range tasks {
		if !t.Holds() || !counted[t.ContainerInstanceARN] {
			continue
		}
		u := out[t.Cluster]
		if u == nil {
			continue
		}
		u.reservedCPU += float64(t.Reserved.CPU)
		u.reservedMemory += float64(t.Reserved.MemoryMiB)
	}
	for _, c := range containers {
		if c.Metrics == nil || !counted[c.Task.Instance] {
			continue
		}
		u := out[c.Task.Cluster]
		if u == nil {
			continue
		}
		if c.Metrics.CPU != nil {
			u.usedCPU += c.Metrics.CPU.Average() * cpuUnitsPerCPU / 100
		}
		if c.Metrics.MemoryMiB != nil {
			u.usedMemory += c.Metrics.MemoryMiB.Average()
		}
	}
	return out
}

// resource reads a registered resource's amount, whichever number member
// the agent filled in.
func resource(resources []store.Resource, name string) float64 {
	for _, r := range resources {
		if r.Name != name {
			continue
		}
		switch {
		case r.IntegerValue != 0:
			return float64(r.IntegerValue)
		case r.LongValue != 0:
			return float64(r.LongValue)
		default:
			return r.DoubleValue
		}
	}
	return 0
}
