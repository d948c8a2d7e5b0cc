package ec2metadata_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/ec2metadata"
	"github.com/open-ecs/ecs-agent/ec2metadata/imdstest"
)

// The mock's default values (amazon-ec2-metadata-mock v1.13.0).
const (
	mockInstanceID = "i-1234567890abcdef0"
	mockRegion     = "us-east-1"
	mockAZ         = "us-east-1a"
	mockAZID       = "use1-az4"
)

// testWait is the Resolve budget in tests: long enough never to cut a healthy
// mock short on a loaded machine; tests do not depend on it elapsing.
const testWait = 10 * time.Second

// countingTransport counts token PUTs to show whether the client asked for
// IMDSv2 tokens.
type countingTransport struct{ tokenPuts atomic.Int32 }

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Path == imdstest.TokenPath {
		ct.tokenPuts.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newClient(endpoint string, ct *countingTransport) *ec2metadata.Client {
	opts := ec2metadata.Options{Endpoint: endpoint}
	if ct != nil {
		opts.HTTPClient = &http.Client{Transport: ct}
	}
	return ec2metadata.New(opts)
}

func TestIntegrationIMDSv2Identity(t *testing.T) {
	// -I: the mock refuses requests without a token, so success proves IMDSv2.
	endpoint := imdstest.Start(t, imdstest.Options{IMDSv2Only: true})
	ct := &countingTransport{}
	c := newClient(endpoint, ct)

	id, err := c.Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, mockInstanceID, id.InstanceID)
	assert.Equal(t, mockRegion, id.Region)
	assert.Equal(t, mockAZ, id.AvailabilityZone)
	assert.Equal(t, mockAZID, id.AvailabilityZoneID)
	require.NotEmpty(t, id.Signature)

	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(id.Document), &doc), "the document is sent verbatim and must stay valid JSON")
	assert.Equal(t, mockInstanceID, doc["instanceId"])
	assert.Equal(t, mockRegion, doc["region"])

	// Further calls reuse the cached token.
	v, err := c.GetMetadata(t.Context(), "instance-id")
	require.NoError(t, err)
	assert.Equal(t, mockInstanceID, v)
	assert.Equal(t, int32(1), ct.tokenPuts.Load())

	region, err := c.Region(t.Context())
	require.NoError(t, err)
	assert.Equal(t, mockRegion, region)
}

func TestIntegrationIMDSv1Fallback(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			endpoint := imdstest.Start(t, imdstest.Options{TokenStatus: status})
			ct := &countingTransport{}
			c := newClient(endpoint, ct)

			id, err := c.Resolve(t.Context(), "", testWait)
			require.NoError(t, err)
			assert.Equal(t, mockInstanceID, id.InstanceID)
			assert.Equal(t, mockRegion, id.Region)
			assert.NotEmpty(t, id.Document)
			assert.NotEmpty(t, id.Signature)

			// The fallback is remembered: no second token request.
			_, err = c.GetMetadata(t.Context(), "placement/availability-zone")
			require.NoError(t, err)
			assert.Equal(t, int32(1), ct.tokenPuts.Load())
		})
	}
}

func TestIntegrationConfiguredRegionWins(t *testing.T) {
	endpoint := imdstest.Start(t, imdstest.Options{
		MetadataValues: map[string]string{
			"instance-id":                 "i-0fedcba0987654321",
			"placement-region":            "eu-west-1",
			"placement-availability-zone": "eu-west-1b",
		},
		IdentityDocument: map[string]any{"instanceId": "i-0fedcba0987654321", "region": "eu-west-1"},
	})
	c := newClient(endpoint, nil)

	id, err := c.Resolve(t.Context(), "us-west-2", testWait)
	require.NoError(t, err)
	assert.Equal(t, "us-west-2", id.Region, "a configured region wins over the instance's")
	assert.Equal(t, "i-0fedcba0987654321", id.InstanceID)
	assert.Equal(t, "eu-west-1b", id.AvailabilityZone)
	assert.Contains(t, id.Document, `"region": "eu-west-1"`)
	assert.NotEmpty(t, id.Signature)
}

func TestIntegrationNoDynamicData(t *testing.T) {
	t.Run("region from placement", func(t *testing.T) {
		endpoint := imdstest.Start(t, imdstest.Options{
			MetadataValues: map[string]string{"placement-region": "ap-southeast-2"},
			NotFound:       []string{"/latest/dynamic/"},
		})
		c := newClient(endpoint, nil)

		_, err := c.InstanceIdentityDocument(t.Context())
		require.ErrorIs(t, err, ec2metadata.ErrNotFound)

		id, err := c.Resolve(t.Context(), "", testWait)
		require.NoError(t, err)
		assert.Equal(t, ec2metadata.Identity{
			InstanceID:         mockInstanceID,
			Region:             "ap-southeast-2",
			AvailabilityZone:   mockAZ,
			AvailabilityZoneID: mockAZID,
		}, id)
	})

	t.Run("region from a local zone", func(t *testing.T) {
		endpoint := imdstest.Start(t, imdstest.Options{
			MetadataValues: map[string]string{"placement-availability-zone": "us-west-2-lax-1a"},
			NotFound:       []string{"/latest/dynamic/", "/latest/meta-data/placement/region"},
		})
		id, err := newClient(endpoint, nil).Resolve(t.Context(), "", testWait)
		require.NoError(t, err)
		assert.Equal(t, "us-west-2", id.Region)
		assert.Equal(t, "us-west-2-lax-1a", id.AvailabilityZone)
		assert.Empty(t, id.Document)
		assert.Empty(t, id.Signature)
	})

	t.Run("no region anywhere", func(t *testing.T) {
		// An OpenStack-style service: meta-data only, zone "nova".
		endpoint := imdstest.Start(t, imdstest.Options{
			MetadataValues: map[string]string{"placement-availability-zone": "nova"},
			NotFound:       []string{"/latest/dynamic/", "/latest/meta-data/placement/region"},
		})
		c := newClient(endpoint, nil)

		id, err := c.Resolve(t.Context(), "eu-central-1", testWait)
		require.NoError(t, err)
		assert.Equal(t, "eu-central-1", id.Region)
		assert.Equal(t, mockInstanceID, id.InstanceID)

		id, err = c.Resolve(t.Context(), "", testWait)
		require.ErrorIs(t, err, ec2metadata.ErrNoRegion)
		assert.Contains(t, err.Error(), "AWS_DEFAULT_REGION")
		assert.Equal(t, mockInstanceID, id.InstanceID, "the partial identity comes with the error")
	})
}

func TestIntegrationEndpointFromEnvironment(t *testing.T) {
	endpoint := imdstest.Start(t, imdstest.Options{})
	t.Setenv(ec2metadata.EnvEndpoint, endpoint)
	t.Setenv(ec2metadata.EnvDisabled, "")

	c := ec2metadata.New(ec2metadata.Options{})
	assert.Equal(t, endpoint, c.Endpoint())
	id, err := c.Resolve(t.Context(), "", testWait)
	require.NoError(t, err)
	assert.Equal(t, mockRegion, id.Region)
}

func TestIntegrationResolveCanceled(t *testing.T) {
	endpoint := imdstest.Start(t, imdstest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := newClient(endpoint, nil).Resolve(ctx, "us-west-2", testWait)
	require.ErrorIs(t, err, context.Canceled, "a canceled caller is not the same as a missing IMDS")
	require.False(t, errors.Is(err, ec2metadata.ErrNoRegion))
}
