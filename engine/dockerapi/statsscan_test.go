package dockerapi

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScanStatsPaths checks which of FuzzStatsFrom's seeds the fast path
// reads itself: every sample Docker sends must be (or the agent pays
// encoding/json's cost again without noticing), and the hand-over cases
// must not be. Either way statsFrom answers as encoding/json does.
func TestScanStatsPaths(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStatsFrom")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			raw := readSeed(t, filepath.Join(dir, e.Name()))
			fast, ok := scanStats(raw)
			handOver := strings.HasPrefix(e.Name(), "handover-") || strings.HasPrefix(e.Name(), "malformed") || strings.HasPrefix(e.Name(), "trailing")
			require.Equal(t, !handOver, ok, "fast path")
			want, wantErr := decodeStats(raw)
			got, err := statsFrom(raw)
			if wantErr != nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assertSameStats(t, want, got)
			if ok {
				assertSameStats(t, want, fast)
			}
		})
	}
}

// readSeed returns the []byte argument of a corpus file
// ("go test fuzz v1" then []byte("...")).
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, body, ok := strings.Cut(string(data), "\n")
	require.True(t, ok, "%s: no header line", path)
	body = strings.TrimSpace(body)
	quoted, ok := strings.CutPrefix(body, "[]byte(")
	require.True(t, ok, "%s: not one []byte", path)
	s, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
	require.NoError(t, err, path)
	return []byte(s)
}
