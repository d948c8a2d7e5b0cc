package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/controlplane/telemetry"
)

const (
	inst1 = "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/00000000000000000000000000000001"
	inst2 = "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/00000000000000000000000000000002"
	gone  = "arn:aws:ecs:us-east-1:000000000000:container-instance/prod/00000000000000000000000000000003"
	dev1  = "arn:aws:ecs:us-east-1:000000000000:container-instance/dev/00000000000000000000000000000004"
)

type fakeContainers []telemetry.Container

func (f fakeContainers) Containers() []telemetry.Container { return f }

func instance(cluster, arn, status string, cpu, mem int32) store.ContainerInstance {
	return store.ContainerInstance{ID: arn[len(arn)-32:], Cluster: cluster, ARN: arn, Status: status,
		RegisteredResources: []store.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: cpu}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: mem}}}
}

func task(cluster, id, instance, lastStatus string, cpu, mem int) store.Task {
	return store.Task{ID: id, Cluster: cluster, ARN: "arn:aws:ecs:us-east-1:000000000000:task/" + cluster + "/" + id,
		ContainerInstanceARN: instance, LastStatus: lastStatus, Reserved: store.Reservation{CPU: cpu, MemoryMiB: mem}}
}

func used(cluster, id, instance string, cpuPercent, memMiB float64) telemetry.Container {
	return telemetry.Container{
		Task: telemetry.Task{ARN: "arn:aws:ecs:us-east-1:000000000000:task/" + cluster + "/" + id, ID: id, Cluster: cluster,
			Family: "web", Revision: 4, Instance: instance},
		Name: "app",
		Metrics: &telemetry.ContainerMetrics{Name: "app",
			CPU:       &telemetry.Stats{Min: cpuPercent, Max: cpuPercent, Sum: 2 * cpuPercent, Samples: 2},
			MemoryMiB: &telemetry.Stats{Min: memMiB, Max: memMiB, Sum: 2 * memMiB, Samples: 2}},
	}
}

func TestUsageByCluster(t *testing.T) {
	instances := []store.ContainerInstance{
		instance("prod", inst1, store.StatusActive, 2048, 4000),
		instance("prod", inst2, store.StatusDraining, 2048, 4000),
		instance("prod", gone, store.StatusInactive, 4096, 8000), // deregistered: not counted
		instance("dev", dev1, store.StatusActive, 1024, 1000),
	}
	tasks := []store.Task{
		task("prod", "a", inst1, store.TaskRunning, 512, 1000),
		task("prod", "b", inst2, store.TaskPending, 256, 500),
		task("prod", "c", inst1, store.TaskStopped, 1024, 2000), // released its reservation
		task("prod", "d", gone, store.TaskRunning, 1024, 2000),  // orphaned on a deregistered instance
		task("dev", "e", dev1, store.TaskRunning, 128, 100),
	}
	containers := []telemetry.Container{
		used("prod", "a", inst1, 100, 600), // one CPU busy: 1024 units
		used("prod", "b", inst2, 50, 200),
		used("prod", "d", gone, 400, 999),
		{Task: telemetry.Task{Cluster: "dev", Instance: dev1}, Health: &telemetry.ContainerHealth{Status: "HEALTHY"}}, // health only
	}
	got := usageByCluster(instances, tasks, containers)
	assert.Equal(t, map[string]*usage{
		"prod": {registeredCPU: 4096, reservedCPU: 768, usedCPU: 1024 + 512, registeredMemory: 8000, reservedMemory: 1500, usedMemory: 800},
		"dev":  {registeredCPU: 1024, reservedCPU: 128, registeredMemory: 1000, reservedMemory: 100},
	}, got)
}

func TestExposition(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Update(func(tx store.Tx) error {
		if err := tx.PutCluster(store.Cluster{Name: "prod", Status: store.StatusActive}); err != nil {
			return err
		}
		if err := tx.PutInstance(instance("prod", inst1, store.StatusActive, 2048, 4000)); err != nil {
			return err
		}
		return tx.PutTask(task("prod", "a", inst1, store.TaskRunning, 512, 1000))
	}))
	healthy := used("prod", "a", inst1, 100, 600)
	healthy.Metrics.Network = &telemetry.Network{RxBytes: 10, TxBytes: 5}
	healthy.RxBytesTotal, healthy.TxBytesTotal = 1234, 567
	healthy.Health = &telemetry.ContainerHealth{Name: "app", Status: telemetry.Healthy}
	failing := telemetry.Container{Task: healthy.Task, Name: "sidecar", Health: &telemetry.ContainerHealth{Status: telemetry.Unhealthy}}
	unknown := telemetry.Container{Task: healthy.Task, Name: "log", Health: &telemetry.ContainerHealth{Status: telemetry.Unknown}}

	m := New(Options{
		Store: st, Telemetry: fakeContainers{healthy, failing, unknown},
		ACSSessions: func() int { return 3 }, TCSSessions: func() int { return 2 },
		Unacknowledged: func() int { return 7 },
		TCSFrames:      func() (uint64, uint64, uint64) { return 40, 2, 5 },
	})
	labels := `{cluster="prod",container="app",family="web",revision="4",task_id="a"}`
	expected := `
# HELP ecs_cluster_cpu_reservation_percent CPU units reserved by the cluster's tasks that are not STOPPED, in percent of the CPU units its ACTIVE and DRAINING instances registered (CloudWatch's CPUReservation).
# TYPE ecs_cluster_cpu_reservation_percent gauge
ecs_cluster_cpu_reservation_percent{cluster="prod"} 25
# HELP ecs_cluster_cpu_utilization_percent CPU units the cluster's tasks use (agents' latest windows; 100 % of one CPU is 1024 units), in percent of the CPU units its ACTIVE and DRAINING instances registered (CloudWatch's CPUUtilization).
# TYPE ecs_cluster_cpu_utilization_percent gauge
ecs_cluster_cpu_utilization_percent{cluster="prod"} 50
# HELP ecs_cluster_memory_reservation_percent Memory reserved by the cluster's tasks that are not STOPPED, in percent of the memory its ACTIVE and DRAINING instances registered (CloudWatch's MemoryReservation).
# TYPE ecs_cluster_memory_reservation_percent gauge
ecs_cluster_memory_reservation_percent{cluster="prod"} 25
# HELP ecs_cluster_memory_utilization_percent Memory the cluster's tasks use (agents' latest windows), in percent of the memory its ACTIVE and DRAINING instances registered (CloudWatch's MemoryUtilization).
# TYPE ecs_cluster_memory_utilization_percent gauge
ecs_cluster_memory_utilization_percent{cluster="prod"} 15
# HELP ecs_container_cpu_utilization_percent CPU a container used over the agent's latest publish window (average), in percent of one CPU: 200 is two CPUs busy.
# TYPE ecs_container_cpu_utilization_percent gauge
ecs_container_cpu_utilization_percent` + labels + ` 100
# HELP ecs_container_healthy 1 while a container's health check passes (HEALTHY), 0 while it fails (UNHEALTHY); absent while its health is UNKNOWN.
# TYPE ecs_container_healthy gauge
ecs_container_healthy` + labels + ` 1
ecs_container_healthy{cluster="prod",container="sidecar",family="web",revision="4",task_id="a"} 0
# HELP ecs_container_memory_utilized_bytes Memory a container used over the agent's latest publish window (average; agents report whole MiB).
# TYPE ecs_container_memory_utilized_bytes gauge
ecs_container_memory_utilized_bytes` + labels + ` 6.291456e+08
# HELP ecs_container_network_rx_bytes_total Bytes a container received, summed over the windows this control plane got since it first saw the container.
# TYPE ecs_container_network_rx_bytes_total counter
ecs_container_network_rx_bytes_total` + labels + ` 1234
# HELP ecs_container_network_tx_bytes_total Bytes a container sent, summed over the windows this control plane got since it first saw the container.
# TYPE ecs_container_network_tx_bytes_total counter
ecs_container_network_tx_bytes_total` + labels + ` 567
# HELP ecs_controlplane_payloads_unacknowledged ACS PayloadMessages sent to agents and not acknowledged yet (at most 64 remembered per instance).
# TYPE ecs_controlplane_payloads_unacknowledged gauge
ecs_controlplane_payloads_unacknowledged 7
# HELP ecs_controlplane_sessions Open agent websocket sessions, by protocol (acs, tcs).
# TYPE ecs_controlplane_sessions gauge
ecs_controlplane_sessions{protocol="acs"} 3
ecs_controlplane_sessions{protocol="tcs"} 2
# HELP ecs_controlplane_tcs_frames_total TCS frames from agents, by result: accepted (stored and acknowledged) or refused.
# TYPE ecs_controlplane_tcs_frames_total counter
ecs_controlplane_tcs_frames_total{result="accepted"} 40
ecs_controlplane_tcs_frames_total{result="refused"} 2
# HELP ecs_controlplane_telemetry_dropped_total Parts of accepted TCS frames left out: unknown or stopped tasks, unknown containers, entries over the store's bounds.
# TYPE ecs_controlplane_telemetry_dropped_total counter
ecs_controlplane_telemetry_dropped_total 5
`
	names := []string{
		"ecs_cluster_cpu_reservation_percent", "ecs_cluster_cpu_utilization_percent",
		"ecs_cluster_memory_reservation_percent", "ecs_cluster_memory_utilization_percent",
		"ecs_container_cpu_utilization_percent", "ecs_container_healthy", "ecs_container_memory_utilized_bytes",
		"ecs_container_network_rx_bytes_total", "ecs_container_network_tx_bytes_total",
		"ecs_controlplane_payloads_unacknowledged", "ecs_controlplane_sessions",
		"ecs_controlplane_tcs_frames_total", "ecs_controlplane_telemetry_dropped_total",
	}
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(expected), names...))
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus's conventions")

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "go_goroutines ")
	assert.Contains(t, string(body), "process_resident_memory_bytes ")
}

func TestInstrumentAPI(t *testing.T) {
	m := New(Options{})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The API sets a read deadline through the recorder.
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if r.Header.Get("X-Amz-Target") == "bad" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(m.InstrumentAPI(api, func(r *http.Request) string {
		if r.Header.Get("X-Amz-Target") == "garbage" {
			return ""
		}
		return "RunTask"
	}))
	defer srv.Close()
	for _, target := range []string{"ok", "ok", "bad", "garbage"} {
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-Amz-Target", target)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, 2.0, testutil.ToFloat64(m.requests.WithLabelValues("RunTask", "200")), "the ResponseController reached the connection")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("RunTask", "400")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("unknown", "200")))
	assert.Equal(t, 3, testutil.CollectAndCount(m.requests))
	assert.Equal(t, 2, testutil.CollectAndCount(m.latency), "one histogram per operation")
}
