package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// The files Load reads must be regular files of bounded size: a device such
// as /dev/zero would grow the agent without bound.

func TestJSONConfigFileMustBeRegular(t *testing.T) {
	kv := filepath.Join(t.TempDir(), "ecs.config")
	require.NoError(t, os.WriteFile(kv, nil, 0o600))
	_, _, err := Load(LoadOptions{ConfigFile: kv, Environ: []string{"ECS_AGENT_CONFIG_FILE_PATH=/dev/null"}})
	require.ErrorIs(t, err, boundedfile.ErrNotRegular)
	assert.Contains(t, err.Error(), "/dev/null")
	assert.Contains(t, err.Error(), "character device")
}

func TestJSONConfigFileIsBounded(t *testing.T) {
	dir := t.TempDir()
	kv, js := filepath.Join(dir, "ecs.config"), filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(kv, nil, 0o600))
	// Whitespace only: without a limit it is read whole and accepted as empty.
	require.NoError(t, os.WriteFile(js, []byte(spaces(boundedfile.MaxConfig+1)), 0o600))
	_, _, err := Load(LoadOptions{ConfigFile: kv, Environ: []string{"ECS_AGENT_CONFIG_FILE_PATH=" + js}})
	require.ErrorIs(t, err, boundedfile.ErrTooLarge)
	assert.Contains(t, err.Error(), js)
	assert.Contains(t, err.Error(), strconv.Itoa(boundedfile.MaxConfig))
}

func TestKeyValueFileMustBeRegularAndBounded(t *testing.T) {
	_, _, err := Load(LoadOptions{ConfigFile: "/dev/null", Environ: []string{}})
	require.ErrorIs(t, err, boundedfile.ErrNotRegular)
	assert.Contains(t, err.Error(), "/dev/null")

	kv := filepath.Join(t.TempDir(), "ecs.config")
	require.NoError(t, os.WriteFile(kv, []byte(spaces(boundedfile.MaxConfig)+"\n#"), 0o600))
	_, _, err = Load(LoadOptions{ConfigFile: kv, Environ: []string{}})
	require.ErrorIs(t, err, boundedfile.ErrTooLarge)
	assert.Contains(t, err.Error(), kv)
}

func spaces(n int) string { return strings.Repeat(" ", n) }
