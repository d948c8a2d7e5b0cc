package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagsOf renders a list-tags-for-resource answer as key=value pairs.
func tagsOf(out map[string]any) map[string]string {
	got := map[string]string{}
	for _, t := range out["tags"].([]any) {
		m := t.(map[string]any)
		v, _ := m["value"].(string)
		got[m["key"].(string)] = v
	}
	return got
}

// quiet runs a command that must succeed and that answers with nothing
// (the CLI prints no output for an empty answer).
func (c cli) quiet(args ...string) {
	c.t.Helper()
	stdout, stderr, ok := c.run(nil, args...)
	require.True(c.t, ok, "aws ecs %s failed: %s", strings.Join(args, " "), stderr)
	assert.Empty(c.t, strings.TrimSpace(stdout))
}

// TestIntegrationAWSCLITagsAndAttributes drives the tagging, attribute,
// filter, cluster update and task definition deletion operations with the
// aws CLI, and restarts the control plane to show that tags and
// attributes are persisted.
func TestIntegrationAWSCLITagsAndAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the aws CLI")
	}
	bin := findAWSCLI(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dataDir := t.TempDir()
	// A short retention makes the pruner, which finishes deletions, run
	// every 300 ms.
	fastPruner := func(o *Options) { o.StoppedTaskRetention = 300 * time.Millisecond }
	cp := start(t, dataDir, fastPruner)
	aws := cli{t: t, bin: bin, url: cp.url, secret: testSecret}

	// Tags on a cluster and a container instance.
	cluster := dig(aws.ok("create-cluster", "--cluster-name", "x", "--tags", "key=origin,value=cli"), "cluster", "clusterArn").(string)
	register := func(ec2ID string) string {
		reg := aws.ok("register-container-instance", "--cluster", "x",
			"--instance-identity-document", `{"instanceId":"`+ec2ID+`"}`,
			"--total-resources", "name=CPU,type=INTEGER,integerValue=1024", "name=MEMORY,type=INTEGER,integerValue=512")
		return dig(reg, "containerInstance", "containerInstanceArn").(string)
	}
	prod, other := register("i-prod"), register("i-other")

	aws.quiet("tag-resource", "--resource-arn", cluster, "--tags", "key=team,value=blue", "key=origin,value=retagged")
	aws.quiet("tag-resource", "--resource-arn", prod, "--tags", "key=rack,value=r1")
	assert.Equal(t, map[string]string{"origin": "retagged", "team": "blue"}, tagsOf(aws.ok("list-tags-for-resource", "--resource-arn", cluster)))
	aws.quiet("untag-resource", "--resource-arn", cluster, "--tag-keys", "origin")
	assert.Equal(t, map[string]string{"team": "blue"}, tagsOf(aws.ok("list-tags-for-resource", "--resource-arn", cluster)))
	stderr := aws.fails("InvalidParameterException", nil, "tag-resource", "--resource-arn", cluster, "--tags", "key=aws:x,value=y")
	assert.Contains(t, stderr, "aws: prefix is reserved")
	aws.fails("ResourceNotFoundException", nil, "tag-resource", "--resource-arn", cluster[:strings.LastIndex(cluster, ":")]+":task/x/0123", "--tags", "key=a,value=b")

	// Attributes, and the filter that selects by them.
	put := aws.ok("put-attributes", "--cluster", "x", "--attributes", "name=stack,value=prod,targetId="+prod)
	assert.Equal(t, prod, dig(put, "attributes", 0, "targetId"))
	listed := aws.ok("list-attributes", "--cluster", "x", "--target-type", "container-instance", "--attribute-name", "stack")
	require.Len(t, listed["attributes"], 1)
	assert.Equal(t, "prod", dig(listed, "attributes", 0, "value"))
	assert.Equal(t, []any{prod}, aws.ok("list-container-instances", "--cluster", "x", "--filter", "attribute:stack == prod")["containerInstanceArns"])
	assert.Equal(t, []any{other}, aws.ok("list-container-instances", "--cluster", "x", "--filter", "attribute:stack !exists and ec2InstanceId =~ i-.*")["containerInstanceArns"])
	stderr = aws.fails("InvalidParameterException", nil, "list-container-instances", "--cluster", "x", "--filter", "attribute:stack >> prod")
	assert.Contains(t, stderr, `filter "attribute:stack >> prod"`)
	aws.fails("TargetNotFoundException", nil, "put-attributes", "--cluster", "x",
		"--attributes", "name=stack,value=dev,targetType=container-instance,targetId=0123456789abcdef0123456789abcdef")
	aws.ok("put-attributes", "--cluster", "x", "--attributes", "name=stack,value=dev,targetId="+other)
	aws.ok("delete-attributes", "--cluster", "x", "--attributes", "name=stack,targetId="+prod)
	assert.Equal(t, []any{other}, aws.ok("list-container-instances", "--cluster", "x", "--filter", "attribute:stack exists")["containerInstanceArns"])

	// Cluster settings and configuration.
	upd := aws.ok("update-cluster-settings", "--cluster", "x", "--settings", "name=containerInsights,value=enabled")
	assert.Equal(t, "enabled", dig(upd, "cluster", "settings", 0, "value"))
	aws.ok("update-cluster", "--cluster", "x", "--configuration", "executeCommandConfiguration={logging=DEFAULT}")
	desc := aws.ok("describe-clusters", "--clusters", "x", "--include", "SETTINGS", "CONFIGURATIONS")
	assert.Equal(t, "enabled", dig(desc, "clusters", 0, "settings", 0, "value"))
	assert.Equal(t, "DEFAULT", dig(desc, "clusters", 0, "configuration", "executeCommandConfiguration", "logging"))

	// A deleted task definition: DELETE_IN_PROGRESS, then gone, and its
	// number is not given again.
	def := `[{"name":"web","image":"ecs-agent-test/busybox:latest","memory":64}]`
	aws.ok("register-task-definition", "--family", "gone", "--container-definitions", def)
	aws.ok("deregister-task-definition", "--task-definition", "gone:1")
	deleted := aws.ok("delete-task-definitions", "--task-definitions", "gone:1", "gone:7")
	assert.Equal(t, "DELETE_IN_PROGRESS", dig(deleted, "taskDefinitions", 0, "status"))
	assert.Equal(t, "The specified task definition does not exist.", dig(deleted, "failures", 0, "reason"))
	client := sdkClient(cp.url)
	waitFor(t, "the pruner to finish deleting gone:1", func() bool {
		_, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: sdkaws.String("gone:1")})
		return err != nil
	})
	aws.fails("ClientException", nil, "describe-task-definition", "--task-definition", "gone:1")
	again := aws.ok("register-task-definition", "--family", "gone", "--container-definitions", def)
	assert.EqualValues(t, 2, dig(again, "taskDefinition", "revision"))

	// Everything above is in controlplane.db.
	cp.stop()
	cp = start(t, dataDir, fastPruner)
	aws = cli{t: t, bin: bin, url: cp.url, secret: testSecret}
	assert.Equal(t, map[string]string{"team": "blue"}, tagsOf(aws.ok("list-tags-for-resource", "--resource-arn", cluster)))
	assert.Equal(t, map[string]string{"rack": "r1"}, tagsOf(aws.ok("list-tags-for-resource", "--resource-arn", prod)))
	assert.Equal(t, []any{other}, aws.ok("list-container-instances", "--cluster", "x", "--filter", "attribute:stack == dev")["containerInstanceArns"])
}
