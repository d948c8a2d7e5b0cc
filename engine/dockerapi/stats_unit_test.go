package dockerapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/engine/runtime"
)

func TestStatsFromDockerJSON(t *testing.T) {
	for _, tc := range []struct {
		name, memory, blkio string
		wantMem             uint64
	}{
		{"cgroup v1", `{"usage":10485760,"limit":536870912,"stats":{"total_inactive_file":2097152,"cache":3145728}}`,
			`[{"major":8,"minor":0,"op":"Read","value":4096},{"major":8,"minor":0,"op":"Write","value":8192},{"major":8,"minor":0,"op":"Total","value":12288},
			  {"major":8,"minor":16,"op":"Read","value":1}]`, 8 << 20},
		{"cgroup v2", `{"usage":10485760,"limit":536870912,"stats":{"inactive_file":1048576}}`,
			`[{"major":8,"minor":0,"op":"read","value":4097},{"major":8,"minor":0,"op":"write","value":8192}]`, 9 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"read":"2024-01-02T03:04:05.5Z","cpu_stats":{"cpu_usage":{"total_usage":123456789},"system_cpu_usage":999,"online_cpus":4},
				"memory_stats":` + tc.memory + `,
				"networks":{"eth0":{"rx_bytes":100,"rx_packets":2,"rx_errors":1,"rx_dropped":1,"tx_bytes":50,"tx_packets":1,"tx_errors":0,"tx_dropped":3},
				            "eth1":{"rx_bytes":1,"rx_packets":1,"tx_bytes":2,"tx_packets":1}},
				"blkio_stats":{"io_service_bytes_recursive":` + tc.blkio + `}}`
			s, err := statsFrom([]byte(raw))
			require.NoError(t, err)
			assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC), s.Read)
			assert.Equal(t, uint64(123456789), s.CPUUsage)
			assert.Equal(t, uint64(999), s.SystemCPUUsage)
			assert.Equal(t, uint32(4), s.OnlineCPUs)
			assert.Equal(t, tc.wantMem, s.MemoryUsage, "usage less the inactive page cache")
			assert.Equal(t, uint64(536870912), s.MemoryLimit)
			assert.Equal(t, runtime.NetworkStats{RxBytes: 101, RxPackets: 3, RxErrors: 1, RxDropped: 1, TxBytes: 52, TxPackets: 2, TxDropped: 3}, s.Network)
			assert.Equal(t, uint64(4097), s.DiskReadBytes, "reads of every device, not the Total line")
			assert.Equal(t, uint64(8192), s.DiskWriteBytes)
			assert.JSONEq(t, raw, string(s.Raw))
		})
	}
	_, err := statsFrom([]byte(`{"read":12}`))
	require.Error(t, err)
}
