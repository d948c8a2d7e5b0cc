package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

// containerLabels name a container's series. Their values come from the
// control plane's own records of the task, never from what an agent sent.
var containerLabels = []string{"cluster", "family", "revision", "task_id", "container"}

var (
	cpuDesc = prometheus.NewDesc("ecs_container_cpu_utilization_percent",
		"CPU a container used over the agent's latest publish window (average), in percent of one CPU: 200 is two CPUs busy.",
		containerLabels, nil)
	memoryDesc = prometheus.NewDesc("ecs_container_memory_utilized_bytes",
		"Memory a container used over the agent's latest publish window (average; agents report whole MiB).",
		containerLabels, nil)
	rxDesc = prometheus.NewDesc("ecs_container_network_rx_bytes_total",
		"Bytes a container received, summed over the windows this control plane got since it first saw the container.",
		containerLabels, nil)
	txDesc = prometheus.NewDesc("ecs_container_network_tx_bytes_total",
		"Bytes a container sent, summed over the windows this control plane got since it first saw the container.",
		containerLabels, nil)
	healthyDesc = prometheus.NewDesc("ecs_container_healthy",
		"1 while a container's health check passes (HEALTHY), 0 while it fails (UNHEALTHY); absent while its health is UNKNOWN.",
		containerLabels, nil)
)

// containerCollector exports each container's fresh telemetry at scrape time.
type containerCollector struct{ src ContainerSource }

func (c containerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cpuDesc, memoryDesc, rxDesc, txDesc, healthyDesc} {
		ch <- d
	}
}

func (c containerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ct := range c.src.Containers() {
		labels := []string{ct.Task.Cluster, ct.Task.Family, strconv.Itoa(ct.Task.Revision), ct.Task.ID, ct.Name}
		if m := ct.Metrics; m != nil {
			if m.CPU != nil {
				ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.GaugeValue, m.CPU.Average(), labels...)
			}
			if m.MemoryMiB != nil {
				ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.GaugeValue, m.MemoryMiB.Average()*mib, labels...)
			}
			if m.Network != nil {
				ch <- prometheus.MustNewConstMetric(rxDesc, prometheus.CounterValue, float64(ct.RxBytesTotal), labels...)
				ch <- prometheus.MustNewConstMetric(txDesc, prometheus.CounterValue, float64(ct.TxBytesTotal), labels...)
			}
		}
		if h := ct.Health; h != nil && h.Status != telemetry.Unknown {
			v := 0.0
			if h.Status == telemetry.Healthy {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, v, labels...)
		}
	}
}

const mib = 1 << 20
