package agent

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunWithoutCredentialsIsTerminal: an agent with no credentials at all
// (no keys, no profile, no instance metadata) stops with a terminal error
// that says what to set, before it calls the backend.
func TestRunWithoutCredentialsIsTerminal(t *testing.T) {
	h := newHarness(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	h.imds.ident.InstanceID = "" // no metadata service: a private cloud
	err := h.runErr()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrTerminal), "want a terminal error (exit 5), got %v", err)
	for _, want := range []string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "instance role"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, h.stub.registrations(), "nothing is sent without credentials")
}

// fakeIMDSRole serves the IMDSv2 token and answers the role listing with status.
func fakeIMDSRole(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = w.Write([]byte("token"))
		default:
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheckCredentials(t *testing.T) {
	isolateAWS(t)
	awsCfg, err := newAWSConfig(t.Context(), "us-west-2", "", false)
	require.NoError(t, err)
	require.NoError(t, checkCredentials(t.Context(), awsCfg.Credentials, false), "static keys from the environment")

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")

	// On EC2 without an instance role: the role listing is a 404.
	endpoint := fakeIMDSRole(t, http.StatusNotFound)
	awsCfg, err = newAWSConfig(t.Context(), "us-west-2", endpoint, false)
	require.NoError(t, err)
	err = checkCredentials(t.Context(), awsCfg.Credentials, true)
	assert.True(t, errors.Is(err, ErrTerminal), "no role attached is terminal: %v", err)
	assert.Contains(t, err.Error(), "instance role")

	// On EC2 with the metadata service failing: a restart may help.
	endpoint = fakeIMDSRole(t, http.StatusInternalServerError)
	awsCfg, err = newAWSConfig(t.Context(), "us-west-2", endpoint, false)
	require.NoError(t, err)
	err = checkCredentials(t.Context(), awsCfg.Credentials, true)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrTerminal), "a failing metadata service is not terminal: %v", err)
}
