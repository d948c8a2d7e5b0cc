package ec2metadata

import (
	"os"
	"testing"
)

// TestMain clears the IMDS environment so that a developer's or CI's own
// settings (AWS_EC2_METADATA_DISABLED=true is common) do not change what the
// tests see; tests that exercise the variables set them with t.Setenv.
func TestMain(m *testing.M) {
	for _, k := range []string{EnvDisabled, EnvEndpoint, EnvEndpointMode} {
		_ = os.Unsetenv(k)
	}
	os.Exit(m.Run())
}
