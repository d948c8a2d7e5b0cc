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

func custom(name, value, target string) types.Attribute {
	a := types.Attribute{Name: aws.String(name), TargetId: aws.String(target)}
	if value != "" {
		a.Value = aws.String(value)
	}
	if !strings.HasPrefix(target, "arn:") {
		a.TargetType = types.TargetTypeContainerInstance
	}
	return a
}

func describeInstance(t *testing.T, f *fixture, cluster, arn string) types.ContainerInstance {
	t.Helper()
	d, err := f.ecs.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: []string{arn}})
	require.NoError(t, err)
	require.Len(t, d.ContainerInstances, 1)
	return d.ContainerInstances[0]
}

// listed renders ListAttributes' answer as "<instance ARN> <name>=<value>".
func listed(t *testing.T, f *fixture, in *ecs.ListAttributesInput) []string {
	t.Helper()
	out, err := f.ecs.ListAttributes(context.Background(), in)
	require.NoError(t, err)
	var got []string
	for _, a := range out.Attributes {
		assert.Equal(t, types.TargetTypeContainerInstance, a.TargetType)
		got = append(got, aws.ToString(a.TargetId)+" "+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
	}
	return got
}

// Custom attributes round-trip: PutAttributes adds or replaces them (by
// ARN, or by ID with targetType), describe and ListAttributes show them,
// DeleteAttributes removes them; each change moves the instance's version.
func TestAttributesRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := connectedInstance(t, f, "attrs", "i-a")
	b := connectedInstance(t, f, "attrs", "i-b")
	idB := b[strings.LastIndex(b, "/")+1:]
	before := describeInstance(t, f, "attrs", a).Version

	put, err := f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		custom("stack", "prod", a), custom("stack", "dev", idB), custom("gpu", "", idB), custom("stack", "prod-2", a),
	}})
	require.NoError(t, err)
	require.Len(t, put.Attributes, 4)
	assert.Equal(t, b, aws.ToString(put.Attributes[1].TargetId), "answered with the full ARN")

	ci := describeInstance(t, f, "attrs", a)
	v, ok := attr(ci.Attributes, "stack")
	assert.True(t, ok)
	assert.Equal(t, "prod-2", v, "the later value of one call wins")
	_, ok = attr(ci.Attributes, "ecs.os-type")
	assert.True(t, ok, "the agent's attributes stay")
	assert.Equal(t, before+1, ci.Version, "one call, one version")

	assert.Equal(t, []string{a + " stack=prod-2", b + " stack=dev"}, sortedByInstance(listed(t, f, &ecs.ListAttributesInput{
		Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("stack")}), a, b))
	assert.Equal(t, []string{b + " stack=dev"}, listed(t, f, &ecs.ListAttributesInput{Cluster: aws.String("attrs"),
		TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("stack"), AttributeValue: aws.String("dev")}))
	all := listed(t, f, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance})
	assert.Contains(t, all, a+" ecs.os-type=linux", "every attribute is listed, the agent's too")
	assert.Contains(t, all, b+" gpu=")

	// Paging walks every attribute once.
	var paged []string
	in := &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, MaxResults: aws.Int32(3)}
	for {
		out, err := f.ecs.ListAttributes(ctx, in)
		require.NoError(t, err)
		for _, x := range out.Attributes {
			paged = append(paged, aws.ToString(x.TargetId)+" "+aws.ToString(x.Name)+"="+aws.ToString(x.Value))
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	assert.Equal(t, all, paged)

	_, err = f.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		custom("stack", "", a), custom("gpu", "", b), custom("never-set", "", b)}})
	require.NoError(t, err)
	assert.Equal(t, []string{b + " stack=dev"}, listed(t, f, &ecs.ListAttributesInput{Cluster: aws.String("attrs"),
		TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("stack")}))
	_, ok = attr(describeInstance(t, f, "attrs", b).Attributes, "gpu")
	assert.False(t, ok)
}

// sortedByInstance orders "<arn> ..." entries as the ARNs are given.
func sortedByInstance(entries []string, arns ...string) []string {
	var out []string
	for _, arn := range arns {
		for _, e := range entries {
			if strings.HasPrefix(e, arn+" ") {
				out = append(out, e)
			}
		}
	}
	return out
}

func TestAttributeErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := connectedInstance(t, f, "attrs", "i-a")
	other := connectedInstance(t, f, "elsewhere", "i-o")
	gone := connectedInstance(t, f, "attrs", "i-gone")
	_, err := f.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("attrs"), ContainerInstance: aws.String(gone)})
	require.NoError(t, err)

	eleven := make([]types.Attribute, 0, 11)
	for i := range 11 {
		eleven = append(eleven, custom(fmt.Sprintf("a%d", i), "v", a))
	}
	for _, c := range []struct {
		name  string
		attrs []types.Attribute
		code  string
		words []string
	}{
		{"an agent attribute", []types.Attribute{custom("ecs.os-type", "windows", a)}, CodeInvalidParameter, []string{`attributes[0].name "ecs.os-type"`, "ecs. or com.amazonaws.ecs."}},
		{"a capability", []types.Attribute{custom("com.amazonaws.ecs.capability.privileged-container", "", a)}, CodeInvalidParameter, []string{"agent's and ECS's own"}},
		{"no target", []types.Attribute{{Name: aws.String("x")}}, CodeInvalidParameter, []string{"attributes[0].targetId can not be blank"}},
		{"a short ID without type", []types.Attribute{{Name: aws.String("x"), TargetId: aws.String("0123")}}, CodeInvalidParameter, []string{"attributes[0].targetType must be container-instance"}},
		{"another target type", []types.Attribute{{Name: aws.String("x"), TargetId: aws.String(a), TargetType: "task"}}, CodeInvalidParameter, []string{"attributes[0]", "targetType"}},
		{"a bad name", []types.Attribute{custom("a b", "v", a)}, CodeInvalidParameter, []string{"attributes[0]: Attribute name"}},
		{"a bad value", []types.Attribute{custom("x", " padded", a)}, CodeInvalidParameter, []string{"attributes[0]: The value of attribute x"}},
		{"eleven in a call", eleven, CodeInvalidParameter, []string{"at most 10"}},
		{"none", []types.Attribute{}, CodeInvalidParameter, []string{"attributes can not be empty"}},
		{"a missing instance", []types.Attribute{custom("x", "v", "0123456789abcdef0123456789abcdef")}, CodeTargetNotFound, []string{"in cluster attrs", "attributes[0].targetId"}},
		{"another cluster's instance", []types.Attribute{custom("x", "v", other)}, CodeTargetNotFound, []string{other}},
		{"a deregistered instance", []types.Attribute{custom("x", "v", gone)}, CodeTargetNotFound, []string{"INACTIVE"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: c.attrs})
			requireAPIErrorMentions(t, err, c.code, c.words...)
		})
	}

	_, err = f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("nope"), Attributes: []types.Attribute{custom("x", "v", a)}})
	requireAPIErrorMentions(t, err, CodeClusterNotFound)

	// Ten custom attributes per instance; the agent's do not count, and
	// the refused call sets none.
	_, err = f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: eleven[:9]})
	require.NoError(t, err, "9 custom attributes, with the registration's \"custom\" 10")
	_, err = f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: eleven[9:]})
	requireAPIErrorMentions(t, err, CodeAttributeLimitExceeded, "would have 12 custom attributes", "DeleteAttributes")
	_, ok := attr(describeInstance(t, f, "attrs", a).Attributes, "a9")
	assert.False(t, ok)

	_, err = f.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{custom("a0", "other", a)}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, `has a0 = "v", not "other"`)
	_, err = f.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{custom("ecs.os-type", "", a)}})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "agent's and ECS's own")

	_, err = f.ecs.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: "task"})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "targetType must be container-instance")
	_, err = f.ecs.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeValue: aws.String("v")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "attributeValue needs attributeName")
}

// The agent's re-registration replaces the attributes it sends and keeps
// the ones set with PutAttributes.
func TestCustomAttributesSurviveReregistration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	arn := connectedInstance(t, f, "rereg", "i-rereg")
	_, err := f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("rereg"), Attributes: []types.Attribute{custom("stack", "prod", arn)}})
	require.NoError(t, err)

	in := sdkRegisterInput("rereg")
	in.ContainerInstanceArn = aws.String(arn)
	in.Attributes = []types.Attribute{{Name: aws.String("ecs.os-type"), Value: aws.String("linux-2")}}
	_, err = f.ecs.RegisterContainerInstance(ctx, in)
	require.NoError(t, err)

	ci := describeInstance(t, f, "rereg", arn)
	v, ok := attr(ci.Attributes, "stack")
	assert.True(t, ok, "PutAttributes' attribute survives the re-registration")
	assert.Equal(t, "prod", v)
	v, _ = attr(ci.Attributes, "ecs.os-type")
	assert.Equal(t, "linux-2", v, "what the agent sends is updated")
}

// An attribute set with PutAttributes steers placement: memberOf fails
// until an instance has it, then places on that instance only; deleting
// it stops placement again.
func TestPutAttributesSteersPlacement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	connectedInstance(t, f, "steer", "i-a")
	b := connectedInstance(t, f, "steer", "i-b")
	def := appDef("steer", 0)
	def.ContainerDefinitions[0].Memory = aws.Int32(10)
	_, err := f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)
	run := func() *ecs.RunTaskOutput {
		out, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("steer"), TaskDefinition: aws.String("steer"), Count: aws.Int32(4),
			PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:stack == prod")}}})
		require.NoError(t, err)
		return out
	}

	out := run()
	assert.Empty(t, out.Tasks)
	require.Len(t, out.Failures, 2)
	assert.Equal(t, "MemberOf placement constraint unsatisfied.", aws.ToString(out.Failures[0].Reason))

	_, err = f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("steer"), Attributes: []types.Attribute{custom("stack", "prod", b)}})
	require.NoError(t, err)
	out = run()
	require.Len(t, out.Tasks, 4)
	for _, task := range out.Tasks {
		assert.Equal(t, b, aws.ToString(task.ContainerInstanceArn))
	}

	_, err = f.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("steer"), Attributes: []types.Attribute{custom("stack", "", b)}})
	require.NoError(t, err)
	assert.Empty(t, run().Tasks)
}

// ListContainerInstances' filter selects with the cluster query language:
// custom attributes, the agent's, connection, version, registration time
// and running tasks.
func TestListContainerInstancesFilter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := connectedInstance(t, f, "flt", "i-a")
	b := connectedInstance(t, f, "flt", "i-b")
	_, err := f.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("flt"), Attributes: []types.Attribute{custom("stack", "prod", b)}})
	require.NoError(t, err)
	require.NoError(t, f.api.SetAgentConnected(ctx, a, false))
	def := appDef("flt", 0)
	def.ContainerDefinitions[0].Memory = aws.Int32(10)
	_, err = f.ecs.RegisterTaskDefinition(ctx, def)
	require.NoError(t, err)
	run, err := f.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("flt"), TaskDefinition: aws.String("flt")})
	require.NoError(t, err)
	require.Len(t, run.Tasks, 1)
	_, err = f.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("flt"),
		Task: run.Tasks[0].TaskArn, Status: aws.String("RUNNING")})
	require.NoError(t, err)

	list := func(filter string) []string {
		out, err := f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("flt"), Filter: aws.String(filter)})
		require.NoError(t, err, filter)
		return out.ContainerInstanceArns
	}
	for filter, want := range map[string][]string{
		"attribute:stack == prod":                               {b},
		"attribute:stack !exists":                               {a},
		"attribute:ecs.os-type == linux":                        {a, b},
		"agentConnected == false":                               {a},
		"runningTasksCount > 0":                                 {b},
		"agentVersion >= 0.1.0 and not(attribute:stack exists)": {a},
		"registeredAt < 2000-01-01":                             {},
		"ec2InstanceId in [i-a, i-c]":                           {a},
		"task:group == family:flt":                              {b},
	} {
		assert.ElementsMatch(t, want, list(filter), filter)
	}

	_, err = f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("flt"), Filter: aws.String("cpu > 1")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, `filter "cpu > 1": unsupported subject "cpu"`)
	out, err := f.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("flt"),
		Filter: aws.String("attribute:stack == prod"), Status: types.ContainerInstanceStatusDraining})
	require.NoError(t, err)
	assert.Empty(t, out.ContainerInstanceArns, "the filter and the status both apply")
}
