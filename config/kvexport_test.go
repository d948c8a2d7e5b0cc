package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadSettingsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ecs.config")
	require.NoError(t, os.WriteFile(p, []byte("# comment\nexport ECS_CLUSTER = 'prod'\nECS_LOGLEVEL=debug # trailing\n"), 0o600))
	got, err := ReadSettingsFile(p, true)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ECS_CLUSTER": "prod", "ECS_LOGLEVEL": "debug"}, got)

	got, err = ReadSettingsFile(filepath.Join(t.TempDir(), "missing"), false)
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = ReadSettingsFile(filepath.Join(t.TempDir(), "missing"), true)
	assert.Error(t, err)

	require.NoError(t, os.WriteFile(p, []byte("ECS_CLUSTER=a\nnot a setting\n"), 0o600))
	_, err = ReadSettingsFile(p, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+":2")
}
