package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// TestCABundleIsReadBounded: AWS_CA_BUNDLE names a file the agent reads
// whole; a device or a huge file is refused, naming the path and the limit.
func TestCABundleIsReadBounded(t *testing.T) {
	_, err := tlsConfig(false, "/dev/null")
	require.ErrorIs(t, err, boundedfile.ErrNotRegular)
	assert.Contains(t, err.Error(), "AWS_CA_BUNDLE")
	assert.Contains(t, err.Error(), "/dev/null")

	big := filepath.Join(t.TempDir(), "bundle.pem")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("\n", boundedfile.MaxPEM+1)), 0o600))
	_, err = tlsConfig(false, big)
	require.ErrorIs(t, err, boundedfile.ErrTooLarge)
	assert.Contains(t, err.Error(), big)
}
