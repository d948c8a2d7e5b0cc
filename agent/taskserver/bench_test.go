package taskserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/engine"
)

// manyTasks is n running tasks of three containers each, every container
// with a bridge address and an endpoint ID, and a task role per task.
func manyTasks(n int) *fakeTasks {
	f := &fakeTasks{}
	for i := range n {
		t := engine.TaskSnapshot{ARN: fmt.Sprintf("arn:aws:ecs:us-east-1:0:task/c/%032x", i), Family: "f", Version: "1",
			KnownStatus: "RUNNING", CredentialsID: fmt.Sprintf("cred-%d", i)}
		for j := range 3 {
			t.Containers = append(t.Containers, engine.ContainerSnapshot{Name: fmt.Sprintf("c%d", j),
				DockerID: fmt.Sprintf("%d-%d", i, j), EndpointID: fmt.Sprintf("ep-%d-%d", i, j), KnownStatus: "RUNNING",
				Networks: []engine.ContainerNetwork{{Name: "bridge", IPv4Address: fmt.Sprintf("172.17.%d.%d", i/250, i%250+2)}}})
		}
		f.tasks = append(f.tasks, t)
	}
	return f
}

// BenchmarkTaskEndpoint measures one request against an agent running
// 250 tasks (750 containers): the v4 task of the last task, and the last
// task's credentials asked from its own container's address.
func BenchmarkTaskEndpoint(b *testing.B) {
	const n = 250
	store := credentials.New(nil)
	last := fmt.Sprintf("arn:aws:ecs:us-east-1:0:task/c/%032x", n-1)
	if err := store.Set(credentials.Credentials{ID: fmt.Sprintf("cred-%d", n-1), TaskARN: last, RoleType: credentials.RoleTask,
		AccessKeyID: "a", SecretAccessKey: "s"}); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Tasks: manyTasks(n), Credentials: store, RateLimit: 1e9, Burst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path string }{
		{"v4-task", fmt.Sprintf("/v4/ep-%d-2/task", n-1)},
		{"credentials", fmt.Sprintf("/v2/credentials/cred-%d", n-1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, bc.path, nil)
			r.RemoteAddr = fmt.Sprintf("172.17.%d.%d:1234", (n-1)/250, (n-1)%250+2)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.Handler().ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", bc.path, w.Code, w.Body)
				}
			}
		})
	}
}
