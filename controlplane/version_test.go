package controlplane

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs"
)

// An agent that registers without versionInfo, as Amazon's does, shows the
// version its ACS handshake announced.
func TestVersionInfoFromTheACSHandshake(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerInstance(t, client, "") // no versionInfo
	versionInfo := func() types.VersionInfo {
		d, err := client.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
		require.NoError(t, err)
		return *d.ContainerInstances[0].VersionInfo
	}
	require.Equal(t, types.VersionInfo{}, versionInfo())

	sess := acs.NewSession(acs.Options{
		DiscoverEndpoint: func(context.Context) (string, error) { return cp.url, nil },
		Cluster:          "default", ContainerInstanceARN: arn,
		AgentVersion: "1.105.1", AgentHash: "a1b2c3d", DockerVersion: "20.10.24",
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sess.Run(runCtx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	waitFor(t, "versionInfo from the handshake", func() bool { return aws.ToString(versionInfo().AgentVersion) != "" })
	assert.Equal(t, types.VersionInfo{AgentVersion: aws.String("1.105.1"), AgentHash: aws.String("a1b2c3d"),
		DockerVersion: aws.String("DockerVersion: 20.10.24")}, versionInfo())
}
