package ecsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// UpdateClusterSettings and UpdateCluster store what they are given, and
// DescribeClusters shows it when asked (SETTINGS, CONFIGURATIONS).
func TestUpdateClusterIsStoredAndShown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("u")})
	require.NoError(t, err)

	up, err := f.ecs.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("u"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}})
	require.NoError(t, err)
	require.Len(t, up.Cluster.Settings, 1, "the setting is replaced, not added")
	assert.Equal(t, "enabled", aws.ToString(up.Cluster.Settings[0].Value))

	cfg := &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{
		Logging:          types.ExecuteCommandLoggingOverride,
		LogConfiguration: &types.ExecuteCommandLogConfiguration{CloudWatchLogGroupName: aws.String("exec"), CloudWatchEncryptionEnabled: true},
	}}
	u, err := f.ecs.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("u"), Configuration: cfg,
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enhanced")}}})
	require.NoError(t, err)
	assert.Equal(t, "u", aws.ToString(u.Cluster.ClusterName))
	require.NotNil(t, u.Cluster.Configuration)

	d, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"u"},
		Include: []types.ClusterField{types.ClusterFieldSettings, types.ClusterFieldConfigurations}})
	require.NoError(t, err)
	c := d.Clusters[0]
	require.Len(t, c.Settings, 1)
	assert.Equal(t, "enhanced", aws.ToString(c.Settings[0].Value))
	require.NotNil(t, c.Configuration)
	ecc := c.Configuration.ExecuteCommandConfiguration
	assert.Equal(t, types.ExecuteCommandLoggingOverride, ecc.Logging)
	assert.Equal(t, "exec", aws.ToString(ecc.LogConfiguration.CloudWatchLogGroupName))
	assert.True(t, ecc.LogConfiguration.CloudWatchEncryptionEnabled)

	d, err = f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"u"}})
	require.NoError(t, err)
	assert.Nil(t, d.Clusters[0].Configuration, "shown only when asked for")

	// CreateCluster takes the configuration too.
	cr, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("v"),
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingNone}}})
	require.NoError(t, err)
	assert.Equal(t, types.ExecuteCommandLoggingNone, cr.Cluster.Configuration.ExecuteCommandConfiguration.Logging)
}

func TestUpdateClusterErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("u")})
	require.NoError(t, err)
	insights := func(v string) []types.ClusterSetting {
		return []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String(v)}}
	}

	_, err = f.ecs.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("nope"), Settings: insights("enabled")})
	requireAPIErrorMentions(t, err, CodeClusterNotFound)
	_, err = f.ecs.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("u"), Settings: insights("maybe")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "containerInsights: maybe")
	_, err = f.ecs.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("u"), Settings: []types.ClusterSetting{}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "settings can not be empty")
	_, err = f.ecs.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("u")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "Nothing to update")
	_, err = f.ecs.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("u"),
		ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("ns")}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "Service Connect", "not supported")
	_, err = f.ecs.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("u"), Configuration: &types.ClusterConfiguration{
		ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingOverride}}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "logging OVERRIDE needs a logConfiguration")
	_, err = f.ecs.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("u"), Configuration: &types.ClusterConfiguration{
		ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingDefault,
			LogConfiguration: &types.ExecuteCommandLogConfiguration{S3BucketName: aws.String("b")}}}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "only used with logging OVERRIDE")
	_, err = f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("w"),
		ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("ns")}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "Service Connect")

	_, err = f.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("u")})
	require.NoError(t, err)
	_, err = f.ecs.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("u"), Settings: insights("enabled")})
	requireAPIErrorMentions(t, err, CodeClusterNotFound, "inactive")
}
