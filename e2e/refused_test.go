package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretsAttribute is what ECS requires of an instance for a container
// secret from SSM Parameter Store; this agent does not advertise it.
const secretsAttribute = "ecs.capability.secrets.ssm.environment-variables"

// TestE2ERefusedSecretsTask: a task definition with secrets requires the
// attribute ECS requires for them, run-task on an agent that does not
// advertise it fails with ATTRIBUTE, and when an instance carries the
// attribute anyway (a custom attribute), the agent stops the task before
// creating any container, with a reason naming secrets.
func TestE2ERefusedSecretsTask(t *testing.T) {
	t.Parallel()
	tc := startTaskCluster(t)
	app := containerDef("app", true, sleeper)
	app["secrets"] = []map[string]any{{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db-password"}}
	family := uniqueName(t)
	arn := tc.register(t, taskDef(family, app))

	// (1) describe-task-definition shows the secret and the attribute.
	var described struct {
		TaskDefinition struct {
			RequiresAttributes []struct {
				Name string `json:"name"`
			} `json:"requiresAttributes"`
			ContainerDefinitions []struct {
				Secrets []struct {
					Name      string `json:"name"`
					ValueFrom string `json:"valueFrom"`
				} `json:"secrets"`
			} `json:"containerDefinitions"`
		} `json:"taskDefinition"`
	}
	awsJSON(t, tc.cp.endpoint, tc.cp.cliEnv(), &described, "ecs", "describe-task-definition", "--task-definition", arn)
	var required []string
	for _, a := range described.TaskDefinition.RequiresAttributes {
		required = append(required, a.Name)
	}
	assert.Contains(t, required, secretsAttribute)
	require.Len(t, described.TaskDefinition.ContainerDefinitions, 1)
	require.Len(t, described.TaskDefinition.ContainerDefinitions[0].Secrets, 1, "the secret is kept")
	assert.Equal(t, "DB_PASSWORD", described.TaskDefinition.ContainerDefinitions[0].Secrets[0].Name)

	// ... and run-task finds no instance with it.
	tasks, failures := tc.runTask(t, arn, 1)
	assert.Empty(t, tasks)
	require.Len(t, failures, 1)
	assert.Equal(t, "ATTRIBUTE", failures[0].Reason)

	// (2) An instance that carries the attribute anyway, through
	// ECS_INSTANCE_ATTRIBUTES, gets the task; its agent refuses it.
	other := &taskCluster{cp: tc.cp, name: uniqueName(t) + "-attr", defsDir: tc.defsDir, api: tc.api}
	tc.cp.createCluster(t, other.name)
	t.Cleanup(func() { removeClusterContainers(t, other.name) })
	other.agent = newAgent(t, tc.cp, other.name, `ECS_INSTANCE_ATTRIBUTES={"`+secretsAttribute+`":"true"}`)
	other.startAgent(t)

	taskARN := other.runOne(t, arn)
	stopped := other.awaitStatus(t, taskARN, "STOPPED")
	assert.Contains(t, stopped.StoppedReason, `InvalidTaskError: container "app" uses secrets, which this agent does not support`)
	for _, c := range stopped.Containers {
		assert.Equal(t, "STOPPED", c.LastStatus, c.Name)
		assert.Empty(t, c.RuntimeID, "no Docker container for %s", c.Name)
	}
	assert.Empty(t, containersWithLabel(t, "com.amazonaws.ecs.task-arn", taskARN), "docker ps -a shows no container of the task")
	assert.Empty(t, containersWithLabel(t, "com.amazonaws.ecs.cluster", other.name), "nor of its cluster")
	assert.False(t, strings.Contains(stopped.StoppedReason, "arn:aws:ssm"), "the reason names the member, not the secret")
}
