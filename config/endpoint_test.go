package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackendHostWithoutScheme: a bare host is read as https:// and a
// warning says so, from the environment, ecs.config and the JSON file alike.
func TestBackendHostWithoutScheme(t *testing.T) {
	for name, f := range map[string]fixture{
		"environment": {env: []string{"ECS_BACKEND_HOST=127.0.0.1:51677"}},
		"ecs.config":  {file: "ECS_BACKEND_HOST=127.0.0.1:51677\n"},
		"json":        {json: `{"APIEndpoint": "127.0.0.1:51677"}`},
	} {
		t.Run(name, func(t *testing.T) {
			c, warnings, _, _ := mustLoad(t, f)
			assert.Equal(t, "https://127.0.0.1:51677", c.APIEndpoint)
			var found bool
			for _, w := range warnings {
				if w.Key == "ECS_BACKEND_HOST" {
					found = true
					assert.Contains(t, w.Message, "using https://127.0.0.1:51677")
					assert.Contains(t, w.Message, "http://127.0.0.1:51677")
				}
			}
			assert.True(t, found, "no warning about the added scheme in %v", warnings)
		})
	}
}

func TestBackendHostWithScheme(t *testing.T) {
	c, warnings, _, _ := mustLoad(t, fixture{env: []string{"ECS_BACKEND_HOST=http://127.0.0.1:51677"}})
	assert.Equal(t, "http://127.0.0.1:51677", c.APIEndpoint)
	for _, w := range warnings {
		assert.NotEqual(t, "ECS_BACKEND_HOST", w.Key, "an explicit scheme needs no warning: %v", w)
	}
	_, _, _, _, err := fixture{json: `{"APIEndpoint": "ftp://x"}`}.load(t)
	require.Error(t, err, "the JSON file is checked like the environment")
	assert.Contains(t, err.Error(), "APIEndpoint")
}
