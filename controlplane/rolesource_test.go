package controlplane

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
)

func TestRoleSourceOptions(t *testing.T) {
	creds := authz.Keyring{testKey: {SecretAccessKey: testSecret}}
	_, err := New(Options{DataDir: t.TempDir(), Credentials: creds, STSEndpoint: "http://127.0.0.1:1", RolesFile: "/etc/roles.json"})
	assert.ErrorContains(t, err, "-sts-endpoint and -roles exclude each other")

	bad := filepath.Join(t.TempDir(), "roles.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"not-a-role": {"accessKeyId": "a", "secretAccessKey": "b"}}`), 0o600))
	_, err = New(Options{DataDir: t.TempDir(), Credentials: creds, RolesFile: bad})
	assert.ErrorContains(t, err, `"not-a-role" is not an IAM role ARN`)

	_, err = New(Options{DataDir: t.TempDir(), Credentials: creds, STSEndpoint: "sts.local"})
	assert.ErrorContains(t, err, "want http(s)://host[:port]")

	good := filepath.Join(t.TempDir(), "roles.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"arn:aws:iam::000000000000:role/app": {"accessKeyId": "a", "secretAccessKey": "b"}}`), 0o600))
	srv, err := New(Options{DataDir: t.TempDir(), Credentials: creds, RolesFile: good})
	require.NoError(t, err)
	assert.NotNil(t, srv.refresh, "a source of role credentials starts the refresher")
	require.NoError(t, srv.Close())

	srv, err = New(Options{DataDir: t.TempDir(), Credentials: creds})
	require.NoError(t, err)
	assert.Nil(t, srv.refresh)
	require.NoError(t, srv.Close())
}

// Short lifetimes get a short refresh interval, so credentials refreshed
// at half-life reach the agent well before they expire.
func TestRefreshInterval(t *testing.T) {
	assert.Equal(t, 10*time.Second, refreshInterval(Options{}))
	assert.Equal(t, 5*time.Second, refreshInterval(Options{RoleSessionDuration: 40 * time.Second}))
	assert.Equal(t, time.Second, refreshInterval(Options{RoleSessionDuration: 2 * time.Second}))
}
