package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2EAttributesTagsAndFilter works the calls tools make around tasks
// with the aws CLI: a custom attribute set with put-attributes is listed,
// selects the instance in list-container-instances --filter and steers
// placement (a task whose memberOf constraint needs it cannot be placed
// before, and runs on the instance afterwards); tags on the cluster, the
// task definition, the instance and the task round-trip and can be taken
// off; a deleted attribute no longer selects the instance.
func TestE2EAttributesTagsAndFilter(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	aws := func(out any, args ...string) {
		t.Helper()
		awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), out, append([]string{"ecs"}, args...)...)
	}
	def := taskDef(uniqueName(t), containerDef("main", true, sleeper))
	def["placementConstraints"] = []map[string]any{{"type": "memberOf", "expression": "attribute:e2e.stack == prod"}}
	defARN := tc.register(t, def)

	tasks, failures := tc.runTask(t, defARN, 1)
	assert.Empty(t, tasks)
	require.Len(t, failures, 1)
	assert.Equal(t, "MemberOf placement constraint unsatisfied.", failures[0].Reason)

	instance := tc.agent.awaitMetadata(t).ContainerInstanceArn
	attribute := fmt.Sprintf("name=e2e.stack,value=prod,targetId=%s", instance)
	aws(nil, "put-attributes", "--cluster", tc.name, "--attributes", attribute)
	var attrs struct {
		Attributes []struct{ Name, Value, TargetType, TargetID string } `json:"attributes"`
	}
	aws(&attrs, "list-attributes", "--cluster", tc.name, "--target-type", "container-instance", "--attribute-name", "e2e.stack")
	require.Len(t, attrs.Attributes, 1)
	assert.Equal(t, "prod", attrs.Attributes[0].Value)
	assert.Equal(t, instance, attrs.Attributes[0].TargetID)

	selected := func(filter string) []string {
		t.Helper()
		var list struct {
			ARNs []string `json:"containerInstanceArns"`
		}
		aws(&list, "list-container-instances", "--cluster", tc.name, "--filter", filter)
		return list.ARNs
	}
	assert.Equal(t, []string{instance}, selected("attribute:e2e.stack == prod"))
	assert.Empty(t, selected("attribute:e2e.stack == dev"))
	assert.Equal(t, []string{instance}, selected("agentConnected == true and attribute:ecs.os-type == linux"))

	arn := tc.runOne(t, defARN)
	running := tc.awaitStatus(t, arn, "RUNNING")
	assert.Equal(t, instance, running.ContainerInstanceArn)

	var cluster struct {
		Clusters []struct {
			ARN string `json:"clusterArn"`
		} `json:"clusters"`
	}
	aws(&cluster, "describe-clusters", "--clusters", tc.name)
	require.Len(t, cluster.Clusters, 1)
	type tag struct{ Key, Value string }
	tagsOf := func(resource string) []tag {
		t.Helper()
		var out struct {
			Tags []tag `json:"tags"`
		}
		aws(&out, "list-tags-for-resource", "--resource-arn", resource)
		return out.Tags
	}
	for _, resource := range []string{cluster.Clusters[0].ARN, defARN, instance, arn} {
		aws(nil, "tag-resource", "--resource-arn", resource, "--tags", "key=team,value=e2e")
		assert.Equal(t, []tag{{"team", "e2e"}}, tagsOf(resource), resource)
	}
	aws(nil, "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
	assert.Empty(t, tagsOf(arn))

	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
	aws(nil, "delete-attributes", "--cluster", tc.name, "--attributes", attribute)
	assert.Empty(t, selected("attribute:e2e.stack == prod"))
}
