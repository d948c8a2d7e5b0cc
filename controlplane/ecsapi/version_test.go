package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/controlplane/store"
)

func TestRecordAgentVersion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c")})
	require.NoError(t, err)
	in := sdkRegisterInput("c")
	in.VersionInfo = nil // as Amazon's agent registers
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	describe := func() types.ContainerInstance {
		t.Helper()
		d, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("c"), ContainerInstances: []string{arn}})
		require.NoError(t, err)
		return d.ContainerInstances[0]
	}
	before := describe()
	assert.Equal(t, &types.VersionInfo{}, before.VersionInfo, "nothing to show before the handshake")

	v := store.VersionInfo{AgentVersion: "1.105.1", AgentHash: "a1b2c3d", DockerVersion: "DockerVersion: 20.10.24"}
	require.NoError(t, f.api.RecordAgentVersion(ctx, arn, v))
	got := describe()
	assert.Equal(t, &types.VersionInfo{AgentVersion: aws.String("1.105.1"), AgentHash: aws.String("a1b2c3d"),
		DockerVersion: aws.String("DockerVersion: 20.10.24")}, got.VersionInfo)
	assert.Equal(t, before.Version+1, got.Version)

	require.NoError(t, f.api.RecordAgentVersion(ctx, arn, v))
	assert.Equal(t, got.Version, describe().Version, "no change, no new version")

	require.NoError(t, f.api.RecordAgentVersion(ctx, arn, store.VersionInfo{AgentVersion: "1.106.0"}))
	got = describe()
	assert.Equal(t, "1.106.0", aws.ToString(got.VersionInfo.AgentVersion), "the running agent's version wins")
	assert.Equal(t, "a1b2c3d", aws.ToString(got.VersionInfo.AgentHash), "a member left out is kept")

	err = f.api.RecordAgentVersion(ctx, arn, store.VersionInfo{AgentHash: string(make([]byte, 300))})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "versionInfo.agentHash has 300 characters")
	assert.ErrorIs(t, f.api.RecordAgentVersion(ctx, "garbage", v), ErrInstanceNotFound)
}
