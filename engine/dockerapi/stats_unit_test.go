package dockerapi

import (
	"io"
	"strings"
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

// BenchmarkStatsFrom is the adapter's cost per Docker stats sample (a
// cgroup v1 sample from Docker 20.10 with two CPUs and one disk).
func BenchmarkStatsFrom(b *testing.B) {
	raw := []byte(`{"read":"2024-01-02T03:04:05.5Z","preread":"2024-01-02T03:04:04.5Z","pids_stats":{"current":2},
"blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"Read","value":4096},{"major":8,"minor":0,"op":"Write","value":8192},{"major":8,"minor":0,"op":"Sync","value":0},{"major":8,"minor":0,"op":"Async","value":12288},{"major":8,"minor":0,"op":"Discard","value":0},{"major":8,"minor":0,"op":"Total","value":12288}],
"io_serviced_recursive":[{"major":8,"minor":0,"op":"Read","value":1},{"major":8,"minor":0,"op":"Write","value":2},{"major":8,"minor":0,"op":"Sync","value":0},{"major":8,"minor":0,"op":"Async","value":3},{"major":8,"minor":0,"op":"Discard","value":0},{"major":8,"minor":0,"op":"Total","value":3}],
"io_queue_recursive":[],"io_service_time_recursive":[],"io_wait_time_recursive":[],"io_merged_recursive":[],"io_time_recursive":[],"sectors_recursive":[]},
"num_procs":0,"storage_stats":{},
"cpu_stats":{"cpu_usage":{"total_usage":123456789,"percpu_usage":[61728394,61728395],"usage_in_kernelmode":10000000,"usage_in_usermode":100000000},"system_cpu_usage":999999999999,"online_cpus":2,"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
"precpu_stats":{"cpu_usage":{"total_usage":123000000,"percpu_usage":[61500000,61500000],"usage_in_kernelmode":10000000,"usage_in_usermode":100000000},"system_cpu_usage":999999000000,"online_cpus":2,"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
"memory_stats":{"usage":10485760,"max_usage":12582912,"stats":{"active_anon":4096,"active_file":8192,"cache":3145728,"dirty":0,"hierarchical_memory_limit":536870912,"hierarchical_memsw_limit":0,"inactive_anon":0,"inactive_file":2097152,"mapped_file":0,"pgfault":1000,"pgmajfault":0,"pgpgin":2000,"pgpgout":1000,"rss":4096,"rss_huge":0,"total_active_anon":4096,"total_active_file":8192,"total_cache":3145728,"total_dirty":0,"total_inactive_anon":0,"total_inactive_file":2097152,"total_mapped_file":0,"total_pgfault":1000,"total_pgmajfault":0,"total_pgpgin":2000,"total_pgpgout":1000,"total_rss":4096,"total_rss_huge":0,"total_unevictable":0,"total_writeback":0,"unevictable":0,"writeback":0},"limit":536870912},
"name":"/ecs-web-1-app-0123456789abcdef0123","id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
"networks":{"eth0":{"rx_bytes":100,"rx_packets":2,"rx_errors":0,"rx_dropped":0,"tx_bytes":50,"tx_packets":1,"tx_errors":0,"tx_dropped":0}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := statsFrom(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLineReader splits a stream read in pieces of every size into lines,
// including one longer than the buffer.
func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 3*statsLineBuffer)
	stream := "{\"a\":1}\n" + long + "\n\n"
	for _, piece := range []int{1, 7, statsLineBuffer, len(stream)} {
		lines := lineReader{r: &chunkReader{s: stream + "partial", n: piece}, buf: make([]byte, 0, 16)}
		for _, want := range []string{`{"a":1}`, long, ""} {
			got, err := lines.next()
			require.NoError(t, err)
			require.Equal(t, want, string(got), "pieces of %d", piece)
		}
		_, err := lines.next()
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "a stream cut mid-line is an error, not a sample")
	}
	lines := lineReader{r: strings.NewReader("a\n"), buf: make([]byte, 0, 16)}
	_, err := lines.next()
	require.NoError(t, err)
	_, err = lines.next()
	require.ErrorIs(t, err, io.EOF, "a stream that ends between lines")

	lines = lineReader{r: strings.NewReader(strings.Repeat("x", maxStatsLine+1)), buf: make([]byte, 0, statsLineBuffer)}
	_, err = lines.next()
	require.ErrorContains(t, err, "longer than", "a line without end does not grow without bound")
}

// chunkReader returns s in reads of at most n bytes.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := copy(p, c.s[:min(c.n, len(c.s))])
	c.s = c.s[k:]
	return k, nil
}
