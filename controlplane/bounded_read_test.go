package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/internal/boundedfile"
)

// The -credentials file and the TLS certificate and key are read with a size
// limit and must be regular files: /dev/zero there would grow the control
// plane without bound.

func TestCredentialsFileIsReadBounded(t *testing.T) {
	_, err := readCredentialsFile("/dev/null")
	require.ErrorIs(t, err, boundedfile.ErrNotRegular)
	assert.Contains(t, err.Error(), "/dev/null")

	// Comment lines only: read whole and accepted (as no profile) without a limit.
	big := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("#\n", boundedfile.MaxCredentials)), 0o600))
	_, err = readCredentialsFile(big)
	require.ErrorIs(t, err, boundedfile.ErrTooLarge)
	assert.Contains(t, err.Error(), big)
}

func TestTLSFilesMustBeRegular(t *testing.T) {
	creds := authz.Keyring{testKey: {SecretAccessKey: testSecret}}
	_, err := New(Options{DataDir: t.TempDir(), Credentials: creds, TLSCert: "/dev/null", TLSKey: "/dev/null"})
	require.ErrorIs(t, err, boundedfile.ErrNotRegular)
	assert.Contains(t, err.Error(), "/dev/null")
}
