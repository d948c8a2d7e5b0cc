package controlplane

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs"
)

// TestAgentACSSessionConnects runs the agent's own ACS client against the
// control plane: DPE, the SigV4-signed upgrade (with the '+'-encoded
// dockerVersion query the client sends) and the registry's agentConnected.
func TestAgentACSSessionConnects(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cp := start(t, t.TempDir(), nil)
	client := sdkClient(cp.url)
	ctx := context.Background()
	arn := registerInstance(t, client, "")

	sess := acs.NewSession(acs.Options{
		DiscoverEndpoint: func(ctx context.Context) (string, error) {
			out, err := client.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{ContainerInstance: aws.String(arn)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.Endpoint), nil
		},
		Cluster:              "default",
		ContainerInstanceARN: arn,
		AgentVersion:         "0.1.0",
		AgentHash:            "abc",
		DockerVersion:        "20.10.5",
		Region:               "us-east-1",
		Credentials:          credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sess.Run(runCtx) }()

	waitFor(t, "agentConnected=true", func() bool { return agentConnected(t, client, arn) })
	cancel()
	require.NoError(t, <-done)
	waitFor(t, "agentConnected=false", func() bool { return !agentConnected(t, client, arn) })
}
