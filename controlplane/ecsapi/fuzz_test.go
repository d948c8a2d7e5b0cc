package ecsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/open-ecs/ecs-agent/controlplane/ecsapi"
	"github.com/open-ecs/ecs-agent/controlplane/store"
	"github.com/open-ecs/ecs-agent/internal/fuzzbound"
)

// The fixture's account, region and cluster are those of the real run the
// seed requests come from.
const (
	fuzzRegion  = "us-east-1"
	fuzzAccount = "000000000000"
)

// apiBound is what one input (up to four requests) may allocate: each
// request through the SDK's serializer, the handler and its store
// transaction, and the SDK's deserializer, plus opening the copied store.
// Each real request of the seed corpus needs under 170 KiB; four of the
// largest, with room for answers that list more, fit in 2 MiB.
var apiBound = fuzzbound.Bound{Fixed: 2 << 20, PerByte: 256}

// wireCodes are the error codes the API may answer.
var wireCodes = []string{ecsapi.CodeClientException, ecsapi.CodeInvalidParameter, ecsapi.CodeClusterNotFound,
	ecsapi.CodeClusterContainsInstances, ecsapi.CodeUnknownOperation, ecsapi.CodeSerialization,
	ecsapi.CodeConflict, ecsapi.CodeRequestTimeout,
	ecsapi.CodeServiceNotFound, ecsapi.CodeServiceNotActive, ecsapi.CodeClusterContainsServices}

// FuzzAPI sends typed ECS requests, up to four per input, through the AWS
// SDK's own serializer to the API, on a copy of a control plane that has a
// cluster, a connected container instance, two task definitions and a
// running task (the state of the real run the seeds come from). Inputs are
// decoded field by field into the SDK's input types (package typed), so
// every request is well-formed JSON that the SDK could send; the client's
// validation is off, so wrong values reach the server. No request may get
// a 5xx; every 4xx carries a known ECS error code and a message; every 2xx
// answer is one the SDK reads.
func FuzzAPI(f *testing.F) {
	fx := newAPIFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		calls := decodeCalls(data)
		if len(calls) == 0 {
			return
		}
		for _, c := range calls {
			substitute(reflect.ValueOf(c.in), fx.ids)
		}
		fuzzbound.Check(t, apiBound, len(data), func() { fx.run(t, calls) })
	})
}

// apiFixture is the control plane state every input starts from: a store
// file copied for each input.
type apiFixture struct {
	dir      string
	template []byte
	ids      map[string]string // placeholder -> ARN in the template
}

func newAPIFixture(f *testing.F) *apiFixture {
	dir := f.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		// The store syncs every write; in memory that costs nothing.
		shm, err := os.MkdirTemp("/dev/shm", "fuzzapi")
		if err == nil {
			dir = shm
			f.Cleanup(func() { _ = os.RemoveAll(shm) })
		}
	}
	fx := &apiFixture{dir: dir, ids: map[string]string{}}
	path := filepath.Join(dir, "template.db")
	st, err := store.Open(path)
	if err != nil {
		f.Fatal(err)
	}
	api := ecsapi.New(ecsapi.Options{Store: st, Region: fuzzRegion, AccountID: fuzzAccount})
	c := sdkClient(api, nil)
	ctx := context.Background()
	must := func(what string, err error) {
		if err != nil {
			f.Fatalf("fixture: %s: %v", what, err)
		}
	}
	_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("fuzzseed")})
	must("create cluster", err)
	var reg ecs.RegisterContainerInstanceInput
	must("read request", readRequest("RegisterContainerInstance-agent", &reg))
	ri, err := c.RegisterContainerInstance(ctx, &reg)
	must("register instance", err)
	instance := aws.ToString(ri.ContainerInstance.ContainerInstanceArn)
	must("connect agent", api.SetAgentConnected(ctx, instance, true))
	for _, name := range []string{"RegisterTaskDefinition-cli-hello-web", "RegisterTaskDefinition-cli-rich"} {
		var td ecs.RegisterTaskDefinitionInput
		must("read request", readRequest(name, &td))
		_, err = c.RegisterTaskDefinition(ctx, &td)
		must(name, err)
	}
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("fuzzseed"), TaskDefinition: aws.String("hello-web")})
	must("run task", err)
	if len(run.Tasks) != 1 {
		f.Fatalf("fixture: run task: %+v", run.Failures)
	}
	task := aws.ToString(run.Tasks[0].TaskArn)
	var running ecs.SubmitTaskStateChangeInput
	must("read request", readRequest("SubmitTaskStateChange-agent-running", &running))
	fx.ids = map[string]string{placeholderInstance: instance, placeholderTask: task}
	substitute(reflect.ValueOf(&running), fx.ids)
	_, err = c.SubmitTaskStateChange(ctx, &running)
	must("task running", err)
	must("close store", st.Close())
	if fx.template, err = os.ReadFile(path); err != nil {
		f.Fatal(err)
	}
	return fx
}

// run sends calls to a fresh copy of the fixture and checks every answer.
func (fx *apiFixture) run(t *testing.T, calls []apiCall) {
	path := filepath.Join(fx.dir, "input.db")
	if err := os.WriteFile(path, fx.template, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	api := ecsapi.New(ecsapi.Options{Store: st, Region: fuzzRegion, AccountID: fuzzAccount})
	var ex exchange
	c := sdkClient(api, &ex)
	for _, call := range calls {
		ex = exchange{}
		err := call.op.call(context.Background(), c, call.in)
		checkAnswer(t, call, ex, err)
	}
}

// exchange is what the last request sent and got.
type exchange struct {
	request []byte
	status  int
	body    []byte
}

func checkAnswer(t *testing.T, call apiCall, ex exchange, err error) {
	t.Helper()
	switch {
	case ex.status == 0:
		// The SDK refused to send it (a value it cannot serialize, such as
		// a NaN); nothing reached the API.
		return
	case ex.status >= 500:
		t.Fatalf("%s answered %d %s to\n%s", call.op.name, ex.status, ex.body, ex.request)
	case ex.status >= 400:
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(ex.body, &e) != nil || !slices.Contains(wireCodes, e.Type) || e.Message == "" {
			t.Fatalf("%s answered %d %s: not a known ECS error with a message; request\n%s", call.op.name, ex.status, ex.body, ex.request)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != e.Type {
			t.Fatalf("%s: the SDK reads the %s answer as %v", call.op.name, e.Type, err)
		}
	case err != nil:
		t.Fatalf("%s answered %d, but the SDK cannot read it: %v\n%s\nrequest\n%s", call.op.name, ex.status, err, ex.body, ex.request)
	}
}

// sdkClient is an ECS client whose requests go straight to api's handler,
// without validation, signing, retries or a network. ex, when set,
// records each request and answer.
func sdkClient(api http.Handler, ex *exchange) *ecs.Client {
	transport := roundTrip(func(r *http.Request) (*http.Response, error) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Host = r.URL.Host // as a server sees it
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		resp := rec.Result()
		if ex != nil {
			ex.request = body
			ex.status = resp.StatusCode
			ex.body = rec.Body.Bytes()
		}
		return resp, nil
	})
	noValidation := func(s *middleware.Stack) error {
		_, _ = s.Initialize.Remove("OperationInputValidation")
		return nil
	}
	return ecs.New(ecs.Options{
		Region:       fuzzRegion,
		BaseEndpoint: aws.String("http://ecs.fuzz"),
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   &http.Client{Transport: transport},
		Retryer:      aws.NopRetryer{},
		APIOptions:   []func(*middleware.Stack) error{noValidation},
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func readRequest(name string, in any) error {
	body, err := os.ReadFile(filepath.Join("testdata", "requests", name+".json"))
	if err != nil {
		return err
	}
	return requestFromJSON(body, in)
}
