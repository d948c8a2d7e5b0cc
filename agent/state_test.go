package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/statemanager"
)

// Only a missing agent.db means a new container instance. An empty one
// (a disk that filled up, a copy that went wrong) used to be initialised
// as new: a second registration, and every running task forgotten.
func TestRunEmptyStateFileIsTerminal(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.cfg.DataDir, statemanager.DBFileName)
	require.NoError(t, os.WriteFile(path, nil, 0o600))

	err := h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	require.ErrorIs(t, err, statemanager.ErrCorrupt)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "empty")
	assert.Contains(t, err.Error(), "move the file away")
	assert.Empty(t, h.stub.registrations(), "no new container instance")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the file is left as it was")
}

// A record the engine cannot read stops the agent for good (exit 5)
// instead of a restart loop (exit 1) or a forgotten task.
func TestRunUnreadableTaskRecordIsTerminal(t *testing.T) {
	h := newHarness(t)
	_, stop := h.start()
	require.NoError(t, stop())
	s, err := statemanager.OpenBolt(h.cfg.DataDir, statemanager.BoltOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Put(statemanager.BucketTasks, "0123", []string{"not", "a", "task"}))
	require.NoError(t, s.Close())

	err = h.runErr()
	require.ErrorIs(t, err, ErrTerminal)
	require.ErrorIs(t, err, statemanager.ErrCorrupt)
	assert.Contains(t, err.Error(), "task 0123")
}
