package ecsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/open-ecs/ecs-agent/internal/fuzzbound/typed"
)

// apiOp is one ECS operation the fuzzer can call with a typed input.
type apiOp struct {
	name  string
	input func() any                                             // a new *XxxInput
	call  func(ctx context.Context, c *ecs.Client, in any) error // through the SDK
}

func opOf[I, O any](name string, call func(*ecs.Client, context.Context, *I, ...func(*ecs.Options)) (*O, error)) apiOp {
	return apiOp{
		name:  name,
		input: func() any { return new(I) },
		call: func(ctx context.Context, c *ecs.Client, in any) error {
			_, err := call(c, ctx, in.(*I))
			return err
		},
	}
}

// apiOps are the operations the control plane serves. A fuzz input picks
// one by its index: add new ones at the end, or the seeds change meaning.
var apiOps = []apiOp{
	opOf("CreateCluster", (*ecs.Client).CreateCluster),
	opOf("DeleteCluster", (*ecs.Client).DeleteCluster),
	opOf("DescribeClusters", (*ecs.Client).DescribeClusters),
	opOf("ListClusters", (*ecs.Client).ListClusters),
	opOf("RegisterContainerInstance", (*ecs.Client).RegisterContainerInstance),
	opOf("DeregisterContainerInstance", (*ecs.Client).DeregisterContainerInstance),
	opOf("DescribeContainerInstances", (*ecs.Client).DescribeContainerInstances),
	opOf("ListContainerInstances", (*ecs.Client).ListContainerInstances),
	opOf("UpdateContainerInstancesState", (*ecs.Client).UpdateContainerInstancesState),
	opOf("DiscoverPollEndpoint", (*ecs.Client).DiscoverPollEndpoint),
	opOf("RegisterTaskDefinition", (*ecs.Client).RegisterTaskDefinition),
	opOf("DeregisterTaskDefinition", (*ecs.Client).DeregisterTaskDefinition),
	opOf("DescribeTaskDefinition", (*ecs.Client).DescribeTaskDefinition),
	opOf("ListTaskDefinitions", (*ecs.Client).ListTaskDefinitions),
	opOf("ListTaskDefinitionFamilies", (*ecs.Client).ListTaskDefinitionFamilies),
	opOf("RunTask", (*ecs.Client).RunTask),
	opOf("StartTask", (*ecs.Client).StartTask),
	opOf("StopTask", (*ecs.Client).StopTask),
	opOf("DescribeTasks", (*ecs.Client).DescribeTasks),
	opOf("ListTasks", (*ecs.Client).ListTasks),
	opOf("SubmitTaskStateChange", (*ecs.Client).SubmitTaskStateChange),
	opOf("SubmitContainerStateChange", (*ecs.Client).SubmitContainerStateChange),
	opOf("CreateService", (*ecs.Client).CreateService),
	opOf("DescribeServices", (*ecs.Client).DescribeServices),
	opOf("ListServices", (*ecs.Client).ListServices),
	opOf("UpdateService", (*ecs.Client).UpdateService),
	opOf("DeleteService", (*ecs.Client).DeleteService),
}

// maxCalls bounds the requests of one fuzz input.
const maxCalls = 4

// apiCall is one typed request.
type apiCall struct {
	op apiOp
	in any
}

// decodeCalls reads an input: a count byte, then for each request an
// operation byte and its typed input (package typed's format).
func decodeCalls(data []byte) []apiCall {
	if len(data) == 0 {
		return nil
	}
	n := 1 + int(data[0])%maxCalls
	data = data[1:]
	var calls []apiCall
	for range n {
		if len(data) == 0 {
			break
		}
		op := apiOps[int(data[0])%len(apiOps)]
		in := op.input()
		data = typed.Decode(data[1:], in)
		calls = append(calls, apiCall{op, in})
	}
	return calls
}

// encodeCalls is the inverse of decodeCalls.
func encodeCalls(calls []apiCall) []byte {
	out := []byte{byte(len(calls) - 1)}
	for _, c := range calls {
		for i, op := range apiOps {
			if op.name == c.op.name {
				out = append(out, byte(i))
			}
		}
		out = append(out, typed.Encode(c.in)...)
	}
	return out
}

// Placeholders in requests for what the fixture creates with a random ID.
const (
	placeholderInstance = "{{instance}}"
	placeholderTask     = "{{task}}"
)

// substitute replaces every string of v that is exactly a placeholder.
func substitute(v reflect.Value, with map[string]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			substitute(v.Elem(), with)
		}
	case reflect.String:
		if s, ok := with[v.String()]; ok && v.CanSet() && v.Type() == reflect.TypeFor[string]() {
			v.SetString(s)
		}
	case reflect.Slice:
		for i := range v.Len() {
			substitute(v.Index(i), with)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				substitute(v.Field(i), with)
			}
		}
	}
}

// sdkLacks are the top-level members real clients send that the SDK's
// input types do not have: the agent adds RegisterContainerInstance's
// clientToken with a middleware, as Amazon's agent does.
var sdkLacks = map[string]bool{"clientToken": true}

// requestFromJSON fills the SDK input v (a pointer) from a request body as
// the aws CLI or the agent sent it: members match fields case-insensitively,
// timestamps are epoch seconds. A member the input type lacks is an error,
// except the few of sdkLacks, so that a seed never silently loses part of
// the real request.
func requestFromJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	for k := range raw {
		if sdkLacks[k] && !reflect.ValueOf(v).Elem().FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, k) }).IsValid() {
			delete(raw, k)
		}
	}
	return fill(raw, reflect.ValueOf(v).Elem(), "")
}

func fill(raw any, v reflect.Value, path string) error {
	if raw == nil {
		return nil
	}
	t := v.Type()
	if t == reflect.TypeFor[time.Time]() {
		f, err := raw.(json.Number).Float64()
		v.Set(reflect.ValueOf(time.Unix(int64(f), 0).UTC()))
		return err
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		return fill(raw, v.Elem(), path)
	case reflect.String:
		v.SetString(raw.(string))
	case reflect.Bool:
		v.SetBool(raw.(bool))
	case reflect.Int32, reflect.Int64, reflect.Int:
		n, err := strconv.ParseInt(string(raw.(json.Number)), 10, 64)
		v.SetInt(n)
		return err
	case reflect.Float64:
		f, err := raw.(json.Number).Float64()
		v.SetFloat(f)
		return err
	case reflect.Slice:
		items := raw.([]any)
		v.Set(reflect.MakeSlice(t, len(items), len(items)))
		for i, item := range items {
			if err := fill(item, v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		for k, item := range raw.(map[string]any) {
			e := reflect.New(t.Elem()).Elem()
			if err := fill(item, e, path+"."+k); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
	case reflect.Struct:
		for k, item := range raw.(map[string]any) {
			f := v.FieldByNameFunc(func(name string) bool { return strings.EqualFold(name, k) })
			if !f.IsValid() {
				return fmt.Errorf("%s.%s: %s has no such field", path, k, t)
			}
			if err := fill(item, f, path+"."+k); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: cannot fill a %s", path, t)
	}
	return nil
}

// TestFuzzAPISeeds keeps the seed corpus of FuzzAPI equal to the real
// requests in testdata/requests (named <Operation>-<what>.json): each seed
// is that request in the fuzzer's typed format. Run with
// ECSAPI_WRITE_SEEDS=1 to rewrite the seeds after adding a request or
// changing the format.
func TestFuzzAPISeeds(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no requests in testdata/requests: %v", err)
	}
	write := os.Getenv("ECSAPI_WRITE_SEEDS") == "1"
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		opName, _, _ := strings.Cut(name, "-")
		var op *apiOp
		for i := range apiOps {
			if apiOps[i].name == opName {
				op = &apiOps[i]
			}
		}
		if op == nil {
			t.Fatalf("%s: no operation %q", file, opName)
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		in := op.input()
		if err := requestFromJSON(body, in); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		data := encodeCalls([]apiCall{{*op, in}})
		if back := decodeCalls(data); len(back) != 1 || !reflect.DeepEqual(back[0].in, in) {
			t.Fatalf("%s does not decode back into the same request", file)
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join("testdata", "fuzz", "FuzzAPI", name)
		if write {
			if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if have, err := os.ReadFile(path); err != nil || string(have) != seed {
			t.Fatalf("%s is missing or stale: run ECSAPI_WRITE_SEEDS=1 go test -run TestFuzzAPISeeds ./controlplane/ecsapi", path)
		}
	}
}
