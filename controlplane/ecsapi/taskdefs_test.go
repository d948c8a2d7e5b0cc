package ecsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tdARNPrefix = "arn:aws:ecs:us-east-1:123456789012:task-definition/"

// webDef is a valid two-container definition in bridge mode.
func webDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{
			{
				Name:              aws.String("web"),
				Image:             aws.String("nginx:1.25"),
				Memory:            aws.Int32(256),
				MemoryReservation: aws.Int32(128),
				Links:             []string{"db:database"},
				PortMappings:      []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(0)}},
				DependsOn: []types.ContainerDependency{{ContainerName: aws.String("db"),
					Condition: types.ContainerConditionHealthy}},
				MountPoints: []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}},
				LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverJsonFile,
					Options: map[string]string{"max-size": "10m"}},
				Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}},
			},
			{
				Name:      aws.String("db"),
				Image:     aws.String("busybox"),
				Memory:    aws.Int32(64),
				Essential: aws.Bool(false),
				HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "true"},
					Interval: aws.Int32(10), Retries: aws.Int32(3)},
			},
		},
		Volumes: []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/srv/data")}}},
		Tags:    []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	}
}

func register(t *testing.T, f *fixture, in *ecs.RegisterTaskDefinitionInput) *types.TaskDefinition {
	t.Helper()
	out, err := f.ecs.RegisterTaskDefinition(context.Background(), in)
	require.NoError(t, err)
	return out.TaskDefinition
}

func TestRegisterTaskDefinitionRevisions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)

	out, err := f.ecs.RegisterTaskDefinition(ctx, webDef("web"))
	require.NoError(t, err)
	td := out.TaskDefinition
	assert.Equal(t, tdARNPrefix+"web:1", aws.ToString(td.TaskDefinitionArn))
	assert.Equal(t, int32(1), td.Revision)
	assert.Equal(t, types.TaskDefinitionStatusActive, td.Status)
	assert.True(t, aws.ToTime(td.RegisteredAt).After(before), "registeredAt is a time: %v", td.RegisteredAt)
	require.Len(t, out.Tags, 1)
	assert.Equal(t, "team", aws.ToString(out.Tags[0].Key))

	require.Len(t, td.ContainerDefinitions, 2)
	web := td.ContainerDefinitions[0]
	assert.Equal(t, int32(128), aws.ToInt32(web.MemoryReservation))
	assert.True(t, aws.ToBool(web.Essential), "essential defaults to true")
	assert.Equal(t, types.TransportProtocolTcp, web.PortMappings[0].Protocol, "protocol defaults to tcp")
	assert.Equal(t, "10m", web.LogConfiguration.Options["max-size"])
	assert.False(t, aws.ToBool(td.ContainerDefinitions[1].Essential))
	hc := td.ContainerDefinitions[1].HealthCheck
	assert.Equal(t, int32(10), aws.ToInt32(hc.Interval))
	assert.Equal(t, int32(5), aws.ToInt32(hc.Timeout), "ECS defaults are filled in")
	assert.Equal(t, int32(0), aws.ToInt32(hc.StartPeriod))
	assert.Equal(t, "/srv/data", aws.ToString(td.Volumes[0].Host.SourcePath))
	assert.Contains(t, td.Compatibilities, types.CompatibilityEc2)

	var attrs []string
	for _, a := range td.RequiresAttributes {
		attrs = append(attrs, aws.ToString(a.Name))
	}
	assert.Contains(t, attrs, "com.amazonaws.ecs.capability.logging-driver.json-file")
	assert.Contains(t, attrs, "ecs.capability.container-health-check")
	assert.Contains(t, attrs, "ecs.capability.container-ordering")
	assert.Contains(t, attrs, "com.amazonaws.ecs.capability.docker-remote-api.1.24")
	assert.NotContains(t, attrs, "com.amazonaws.ecs.capability.privileged-container")

	// Revisions count per family, also across deregistered ones.
	assert.Equal(t, int32(2), register(t, f, webDef("web")).Revision)
	assert.Equal(t, int32(1), register(t, f, webDef("other")).Revision)
	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
	require.NoError(t, err)
	assert.Equal(t, tdARNPrefix+"web:3", aws.ToString(register(t, f, webDef("web")).TaskDefinitionArn))
}

func TestDescribeTaskDefinition(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	register(t, f, webDef("web"))
	register(t, f, webDef("web"))
	register(t, f, webDef("web"))
	_, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{
		TaskDefinition: aws.String(tdARNPrefix + "web:3")})
	require.NoError(t, err)

	for ref, want := range map[string]string{
		"web":                 "web:2", // the latest ACTIVE revision
		"web:1":               "web:1",
		"web:3":               "web:3", // INACTIVE revisions can be described by revision
		tdARNPrefix + "web:2": "web:2",
		tdARNPrefix + "web:1": "web:1",
	} {
		d, err := f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
		require.NoError(t, err, ref)
		assert.Equal(t, tdARNPrefix+want, aws.ToString(d.TaskDefinition.TaskDefinitionArn), ref)
		assert.Empty(t, d.Tags, "tags only with include TAGS")
	}

	d, err := f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:3"),
		Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	require.NoError(t, err)
	assert.Equal(t, types.TaskDefinitionStatusInactive, d.TaskDefinition.Status)
	assert.NotNil(t, d.TaskDefinition.DeregisteredAt)
	require.Len(t, d.Tags, 1)
	assert.Equal(t, "a", aws.ToString(d.Tags[0].Value))

	for _, ref := range []string{"nope", "web:9", "web:0", "web:x", "bad/name",
		"arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"} {
		_, err := f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
		requireAPIError(t, err, CodeClientException)
	}

	// A family whose revisions are all INACTIVE has no latest revision.
	register(t, f, webDef("gone"))
	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("gone:1")})
	require.NoError(t, err)
	_, err = f.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("gone")})
	requireAPIError(t, err, CodeClientException)
}

func TestDeregisterTaskDefinition(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	register(t, f, webDef("web"))

	out, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
	require.NoError(t, err)
	assert.Equal(t, types.TaskDefinitionStatusInactive, out.TaskDefinition.Status)
	first := aws.ToTime(out.TaskDefinition.DeregisteredAt)
	assert.False(t, first.IsZero())

	again, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
	require.NoError(t, err, "deregistering twice is harmless")
	assert.Equal(t, first, aws.ToTime(again.TaskDefinition.DeregisteredAt))

	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web")})
	requireAPIErrorMentions(t, err, CodeInvalidParameter, "revision")
	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:7")})
	requireAPIError(t, err, CodeClientException)
}

func TestListTaskDefinitions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Revision 10 sorts after 9, and family "a" before "a-b" and "b".
	for range 10 {
		register(t, f, webDef("a"))
	}
	register(t, f, webDef("a-b"))
	register(t, f, webDef("b"))
	_, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("a:3")})
	require.NoError(t, err)

	all := listAllTaskDefs(t, f, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(4)})
	want := []string{}
	for rev := 1; rev <= 10; rev++ {
		if rev != 3 {
			want = append(want, fmt.Sprintf("%sa:%d", tdARNPrefix, rev))
		}
	}
	want = append(want, tdARNPrefix+"a-b:1", tdARNPrefix+"b:1")
	assert.Equal(t, want, all)

	desc := listAllTaskDefs(t, f, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(5), Sort: types.SortOrderDesc})
	require.Len(t, desc, 11)
	assert.Equal(t, tdARNPrefix+"b:1", desc[0])
	assert.Equal(t, tdARNPrefix+"a-b:1", desc[1])
	assert.Equal(t, tdARNPrefix+"a:10", desc[2])
	assert.Equal(t, tdARNPrefix+"a:1", desc[10])

	// familyPrefix names a whole family, as in ECS: "a" is not "a-b".
	onlyA := listAllTaskDefs(t, f, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(3), FamilyPrefix: aws.String("a"),
		Sort: types.SortOrderDesc})
	require.Len(t, onlyA, 9)
	assert.Equal(t, tdARNPrefix+"a:10", onlyA[0])
	assert.Equal(t, tdARNPrefix+"a:1", onlyA[8])

	inactive := listAllTaskDefs(t, f, &ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive})
	assert.Equal(t, []string{tdARNPrefix + "a:3"}, inactive)

	_, err = f.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(101)})
	requireAPIError(t, err, CodeInvalidParameter)
	_, err = f.ecs.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("!!")})
	requireAPIError(t, err, CodeInvalidParameter)
}

func listAllTaskDefs(t *testing.T, f *fixture, in *ecs.ListTaskDefinitionsInput) []string {
	t.Helper()
	var all []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20, "paging must end")
		out, err := f.ecs.ListTaskDefinitions(context.Background(), in)
		require.NoError(t, err)
		if in.MaxResults != nil {
			require.LessOrEqual(t, len(out.TaskDefinitionArns), int(*in.MaxResults))
		}
		all = append(all, out.TaskDefinitionArns...)
		if out.NextToken == nil {
			return all
		}
		in.NextToken = out.NextToken
	}
}

func TestListTaskDefinitionFamilies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, fam := range []string{"web", "worker", "batch", "web"} {
		register(t, f, webDef(fam))
	}
	_, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("batch:1")})
	require.NoError(t, err)
	_, err = f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
	require.NoError(t, err)

	families := func(in *ecs.ListTaskDefinitionFamiliesInput) []string {
		var all []string
		for {
			out, err := f.ecs.ListTaskDefinitionFamilies(ctx, in)
			require.NoError(t, err)
			all = append(all, out.Families...)
			if out.NextToken == nil {
				return all
			}
			in.NextToken = out.NextToken
		}
	}
	assert.Equal(t, []string{"batch", "web", "worker"}, families(&ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(1)}),
		"every family by default")
	assert.Equal(t, []string{"web", "worker"}, families(&ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(1),
		Status: types.TaskDefinitionFamilyStatusActive}))
	assert.Equal(t, []string{"batch"}, families(&ecs.ListTaskDefinitionFamiliesInput{
		Status: types.TaskDefinitionFamilyStatusInactive}))
	assert.Equal(t, []string{"batch", "web", "worker"}, families(&ecs.ListTaskDefinitionFamiliesInput{
		Status: types.TaskDefinitionFamilyStatusAll}))
	assert.Equal(t, []string{"web", "worker"}, families(&ecs.ListTaskDefinitionFamiliesInput{
		FamilyPrefix: aws.String("w"), Status: types.TaskDefinitionFamilyStatusAll}))
}

// requireAPIErrorMentions checks the code and that the message names what
// the user has to fix.
func requireAPIErrorMentions(t *testing.T, err error, code string, words ...string) {
	t.Helper()
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "want an API error, got %v", err)
	assert.Equal(t, code, ae.ErrorCode(), ae.ErrorMessage())
	for _, w := range words {
		assert.Contains(t, ae.ErrorMessage(), w)
	}
}

func TestTaskDefinitionWireShape(t *testing.T) {
	f := newFixture(t)
	f.api.o.Now = func() time.Time { return time.Unix(1700000000, 250_000_000) }
	resp := rawCall(t, f.srv.URL, "RegisterTaskDefinition", tdBody([]string{
		`{"name":"a","image":"i","memory":64,"privileged":true,"linuxParameters":{"initProcessEnabled":true},
		  "restartPolicy":{"enabled":true},"portMappings":[{"containerPortRange":"9000-9001"}]}`},
		`"taskRoleArn":"arn:aws:iam::123456789012:role/app","cpu":"512","networkMode":"bridge"`), true)
	require.Equal(t, http.StatusOK, resp.status, string(resp.raw))
	raw := string(resp.raw)
	assert.Contains(t, raw, `"registeredAt":1700000000.25`)
	assert.NotContains(t, raw, `deregisteredAt`)
	assert.Contains(t, raw, `"tags":[]`, "tags beside the task definition, [] when none")
	td := resp.body["taskDefinition"].(map[string]any)
	assert.NotContains(t, td, "tags")
	var attrs []string
	for _, a := range td["requiresAttributes"].([]any) {
		attrs = append(attrs, a.(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{
		"com.amazonaws.ecs.capability.docker-remote-api.1.18",
		"com.amazonaws.ecs.capability.docker-remote-api.1.25",
		"com.amazonaws.ecs.capability.privileged-container",
		"com.amazonaws.ecs.capability.task-iam-role",
		"ecs.capability.container-port-range",
		"ecs.capability.container-restart-policy",
		"ecs.capability.task-cpu-mem-limit",
	}, attrs)
	c := td["containerDefinitions"].([]any)[0].(map[string]any)
	for _, member := range []string{"portMappings", "environment", "mountPoints", "volumesFrom"} {
		assert.Contains(t, c, member, "ECS sends [] for an empty %s", member)
	}
}

// Concurrent registrations of one family get distinct, gapless revisions:
// reading the last revision and writing the next happen in one transaction.
func TestRegisterTaskDefinitionConcurrent(t *testing.T) {
	f := newFixture(t)
	const n = 8
	revs := make(chan int32, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			out, err := f.ecs.RegisterTaskDefinition(context.Background(), webDef("web"))
			if err != nil {
				errs <- err
				return
			}
			revs <- out.TaskDefinition.Revision
		}()
	}
	seen := map[int32]bool{}
	for range n {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case r := <-revs:
			assert.False(t, seen[r], "revision %d given twice", r)
			seen[r] = true
		}
	}
	for r := int32(1); r <= n; r++ {
		assert.True(t, seen[r], "revision %d missing", r)
	}
}
