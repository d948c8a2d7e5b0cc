package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2EAttributeSteersPlacement sets a custom attribute with
// put-attributes and runs a task whose memberOf constraint needs it: the
// task cannot be placed before, and runs on the instance afterwards.
func TestE2EAttributeSteersPlacement(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	def := taskDef(uniqueName(t), containerDef("main", true, sleeper))
	def["placementConstraints"] = []map[string]any{{"type": "memberOf", "expression": "attribute:e2e.stack == prod"}}
	defARN := tc.register(t, def)

	tasks, failures := tc.runTask(t, defARN, 1)
	assert.Empty(t, tasks)
	require.Len(t, failures, 1)
	assert.Equal(t, "MemberOf placement constraint unsatisfied.", failures[0].Reason)

	instance := tc.agent.awaitMetadata(t).ContainerInstanceArn
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), nil, "ecs", "put-attributes", "--cluster", tc.name,
		"--attributes", fmt.Sprintf("name=e2e.stack,value=prod,targetId=%s", instance))

	arn := tc.runOne(t, defARN)
	running := tc.awaitStatus(t, arn, "RUNNING")
	assert.Equal(t, instance, running.ContainerInstanceArn)
	tc.stopTask(t, arn, "e2e: done")
	tc.awaitStatus(t, arn, "STOPPED")
}
