package ecsapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

// tagMap turns tags into key=value pairs for comparison.
func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func listTags(t *testing.T, f *fixture, arn string) map[string]string {
	t.Helper()
	out, err := f.ecs.ListTagsForResource(context.Background(), &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	require.NoError(t, err)
	return tagMap(out.Tags)
}

// taggables creates one resource of each kind that can be tagged, each
// with the tag origin=created, and returns their ARNs by kind with a
// function that reads each one's tags the way its Describe operation does.
func taggables(t *testing.T, f *fixture) (map[string]string, func(kind string) map[string]string) {
	t.Helper()
	ctx := context.Background()
	created := []types.Tag{tag("origin", "created")}
	_, err := f.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tagged"), Tags: created})
	require.NoError(t, err)
	in := sdkRegisterInput("tagged")
	in.Tags = created
	reg, err := f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)
	instance := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	require.NoError(t, f.api.SetAgentConnected(ctx, instance, true))
	def := appDef("tagged", 0)
	def.Tags = created
	td, err := f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("tagged"), TaskDefinition: aws.String("tagged"), Tags: created})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	svc, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("tagged"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("tagged"), DesiredCount: aws.Int32(0), Tags: created})
	require.NoError(t, err)

	arns := map[string]string{
		"service":            aws.ToString(svc.Service.ServiceArn),
		"cluster":            "arn:aws:ecs:us-east-1:123456789012:cluster/tagged",
		"container-instance": instance,
		"task-definition":    aws.ToString(td.TaskDefinition.TaskDefinitionArn),
		"task":               aws.ToString(run.Tasks[0].TaskArn),
	}
	described := func(kind string) map[string]string {
		switch kind {
		case "cluster":
			d, err := f.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"tagged"}, Include: []types.ClusterField{types.ClusterFieldTags}})
			require.NoError(t, err)
			return tagMap(d.Clusters[0].Tags)
		case "container-instance":
			d, err := f.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("tagged"),
				ContainerInstances: []string{instance}, Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags}})
			require.NoError(t, err)
			return tagMap(d.ContainerInstances[0].Tags)
		case "task-definition":
			d, err := f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arns[kind]),
				Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
			require.NoError(t, err)
			return tagMap(d.Tags)
		case "service":
			d, err := f.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("tagged"), Services: []string{"web"},
				Include: []types.ServiceField{types.ServiceFieldTags}})
			require.NoError(t, err)
			return tagMap(d.Services[0].Tags)
		}
		return tagMap(describeTask(t, f, "tagged", arns["task"]).Tags)
	}
	return arns, described
}

// Tags round-trip on every kind of resource: TagResource adds and replaces,
// UntagResource removes, and ListTagsForResource and each Describe
// operation show the same stored tags.
func TestTagsRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	arns, described := taggables(t, f)
	for kind, arn := range arns {
		t.Run(kind, func(t *testing.T) {
			assert.Equal(t, map[string]string{"origin": "created"}, listTags(t, f, arn))

			_, err := f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn),
				Tags: []types.Tag{tag("origin", "retagged"), tag("team", "blue"), tag("note", "")}})
			require.NoError(t, err)
			want := map[string]string{"origin": "retagged", "team": "blue", "note": ""}
			assert.Equal(t, want, listTags(t, f, arn))
			assert.Equal(t, want, described(kind))

			_, err = f.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"origin", "absent"}})
			require.NoError(t, err)
			want = map[string]string{"team": "blue", "note": ""}
			assert.Equal(t, want, listTags(t, f, arn))
			assert.Equal(t, want, described(kind))
		})
	}
}

func TestTagErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	arns, _ := taggables(t, f)
	task := arns["task"]
	prefix := "arn:aws:ecs:us-east-1:123456789012:"

	tagCases := []struct {
		name  string
		arn   string
		tags  []types.Tag
		code  string
		words []string
	}{
		{"another region", "arn:aws:ecs:eu-west-1:123456789012:cluster/tagged", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"not an ECS ARN of this control plane", prefix}},
		{"not an ARN", "tagged", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"resourceArn"}},
		{"an untaggable kind", prefix + "task-set/tagged/s/ts", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{`not on "task-set"`, "cluster, container-instance"}},
		{"a capacity provider", prefix + "capacity-provider/FARGATE", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"capacity provider"}},
		{"a task ARN without its cluster", prefix + "task/0123", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"task/<cluster>/<id>"}},
		{"a task definition without revision", prefix + "task-definition/tagged", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"<family>:<revision>"}},
		{"a missing cluster", prefix + "cluster/nope", []types.Tag{tag("a", "b")}, CodeClusterNotFound, nil},
		{"a task of a missing cluster", prefix + "task/nope/0123", []types.Tag{tag("a", "b")}, CodeClusterNotFound, nil},
		{"a missing task", prefix + "task/tagged/0123", []types.Tag{tag("a", "b")}, CodeResourceNotFound, []string{prefix + "task/tagged/0123"}},
		{"a missing revision", prefix + "task-definition/tagged:9", []types.Tag{tag("a", "b")}, CodeResourceNotFound, nil},
		{"a missing service", prefix + "service/tagged/api", []types.Tag{tag("a", "b")}, CodeResourceNotFound, []string{prefix + "service/tagged/api"}},
		{"a service ARN without its cluster", prefix + "service/web", []types.Tag{tag("a", "b")}, CodeInvalidParameter, []string{"service/<cluster>/<name>"}},
		{"an aws: key", task, []types.Tag{tag("AWS:ecs:clusterName", "x")}, CodeInvalidParameter, []string{"tags[0]", "aws: prefix is reserved"}},
		{"an aws: value", task, []types.Tag{tag("k", "aws:x")}, CodeInvalidParameter, []string{"aws: prefix is reserved"}},
		{"a key twice", task, []types.Tag{tag("k", "1"), tag("k", "2")}, CodeInvalidParameter, []string{"tags[1]", `"k" is given twice`}},
		{"a long key", task, []types.Tag{tag(strings.Repeat("k", 129), "v")}, CodeInvalidParameter, []string{"tags[0].key has 129 characters"}},
		{"a long value", task, []types.Tag{tag("k", strings.Repeat("v", 257))}, CodeInvalidParameter, []string{"257 characters"}},
		{"a blank key", task, []types.Tag{tag("", "v")}, CodeInvalidParameter, []string{"tags[0].key can not be blank"}},
		{"a character ECS refuses", task, []types.Tag{tag("a!b", "v")}, CodeInvalidParameter, []string{"letters, numbers, spaces and + - = . _ : / @"}},
		{"no tags", task, []types.Tag{}, CodeInvalidParameter, []string{"tags can not be empty"}},
	}
	for _, c := range tagCases {
		t.Run("tag "+c.name, func(t *testing.T) {
			_, err := f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(c.arn), Tags: c.tags})
			requireAPIErrorMentions(t, err, c.code, c.words...)
		})
	}

	// Lengths are counted in characters, as ECS does, not in bytes.
	_, err := f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(task),
		Tags: []types.Tag{tag(strings.Repeat("é", 128), strings.Repeat("ü", 256))}})
	require.NoError(t, err)

	// ListTagsForResource has no ResourceNotFoundException in the model.
	_, err = f.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(prefix + "task/tagged/0123")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "The specified resource was not found: "+prefix+"task/tagged/0123")
	_, err = f.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "resourceArn can not be blank")

	_, err = f.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(task), TagKeys: []string{"aws:ecs:clusterName"}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "tagKeys[0]", "can not be removed")
	_, err = f.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(task), TagKeys: []string{}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "tagKeys can not be empty")
	_, err = f.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(prefix + "task/tagged/0123"), TagKeys: []string{"k"}})
	requireAPIErrorMentions(t, err, CodeResourceNotFound)
}

// A resource holds at most 50 tags of the user's; ECS's aws: tags do not
// count, and a refused TagResource changes nothing.
func TestTagLimitCountsUserTagsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "lim", "i-lim")
	_, err := f.ecs.RegisterTaskDefinition(ctx, appDef("lim", 0))
	require.NoError(t, err)
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("lim"), TaskDefinition: aws.String("lim"), EnableECSManagedTags: true})
	require.NoError(t, err)
	task := aws.ToString(run.Tasks[0].TaskArn)

	fifty := make([]types.Tag, 0, 50)
	for i := range 50 {
		fifty = append(fifty, tag(fmt.Sprintf("k%02d", i), "v"))
	}
	_, err = f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(task), Tags: fifty})
	require.NoError(t, err, "50 tags next to aws:ecs:clusterName")
	assert.Len(t, listTags(t, f, task), 51)

	_, err = f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(task), Tags: []types.Tag{tag("one-more", "v")}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "would have 51 tags", "at most 50")
	assert.Len(t, listTags(t, f, task), 51, "the refused request changed nothing")

	_, err = f.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(task), Tags: []types.Tag{tag("k00", "replaced")}})
	require.NoError(t, err, "replacing a value adds no tag")
}

// RunTask's tags: propagateTags TASK_DEFINITION copies the definition's,
// the request's win on the same key, and enableECSManagedTags adds
// aws:ecs:clusterName. SERVICE is refused: no service starts these tasks.
func TestRunTaskTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	instance := connectedInstance(t, f, "prop", "i-prop")
	def := appDef("prop", 0)
	def.ContainerDefinitions[0].Memory = aws.Int32(100) // room for every task below
	def.Tags = []types.Tag{tag("team", "blue"), tag("cost", "1")}
	_, err := f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)

	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop"),
		PropagateTags: types.PropagateTagsTaskDefinition, EnableECSManagedTags: true,
		Tags: []types.Tag{tag("cost", "2"), tag("run", "x")}})
	require.NoError(t, err)
	want := map[string]string{"team": "blue", "cost": "2", "run": "x", "aws:ecs:clusterName": "prop"}
	assert.Equal(t, want, tagMap(run.Tasks[0].Tags))
	assert.Equal(t, want, listTags(t, f, aws.ToString(run.Tasks[0].TaskArn)))

	run, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop")})
	require.NoError(t, err)
	assert.Empty(t, listTags(t, f, aws.ToString(run.Tasks[0].TaskArn)), "nothing propagates unless asked")

	start, err := f.ecs.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop"),
		ContainerInstances: []string{instance}, PropagateTags: types.PropagateTagsTaskDefinition})
	require.NoError(t, err)
	require.Len(t, start.Tasks, 1)
	assert.Equal(t, map[string]string{"team": "blue", "cost": "1"}, tagMap(start.Tasks[0].Tags))

	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop"),
		PropagateTags: types.PropagateTagsService})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "propagateTags SERVICE is for the tasks of a service")
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop"),
		PropagateTags: "EVERYTHING"})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, `not "EVERYTHING"`)
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("prop"),
		Tags: []types.Tag{tag("aws:ecs:clusterName", "forged")}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "aws: prefix is reserved")

	// 50 of the definition's and one of the request's is one too many.
	many := make([]types.Tag, 0, 50)
	for i := range 50 {
		many = append(many, tag(fmt.Sprintf("d%02d", i), "v"))
	}
	big := appDef("big", 0)
	big.Tags = many
	_, err = f.ecs.RegisterTaskDefinition(ctx, big)
	require.NoError(t, err)
	_, err = f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prop"), TaskDefinition: aws.String("big"),
		PropagateTags: types.PropagateTagsTaskDefinition, Tags: []types.Tag{tag("r", "v")}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "51 tags", "50 propagated from the task definition")
}
