package engine

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/open-ecs/ecs-agent/acs/wire"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine/dockerapi"
	"github.com/open-ecs/ecs-agent/engine/images"
	"github.com/open-ecs/ecs-agent/statemanager"
)

// dockerRuntime returns the real Docker adapter. It skips under -short,
// and without Docker or the test image unless CI=true.
func dockerRuntime(t *testing.T) *dockerapi.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped with -short")
	}
	c, err := dockerapi.New(os.Getenv("DOCKER_HOST"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the Docker engine is unavailable: %v", err)
		}
		t.Skipf("Docker engine unavailable (start dockerd or run scripts/dev-setup.sh): %v", err)
	}
	if _, err := c.InspectImage(ctx, testImage); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the test image %s is missing (run make dev-setup): %v", testImage, err)
		}
		t.Skipf("test image %s is missing (run make dev-setup): %v", testImage, err)
	}
	return c
}

func TestTaskOnDocker(t *testing.T) {
	d := dockerRuntime(t)
	cluster := "engine-it-" + randHex()[:8]
	cfg := config.Default()
	cfg.Cluster = cluster
	cfg.ImagePullBehavior = images.BehaviorPreferCached
	cfg.TaskCleanupWaitDuration = time.Second
	cfg.DockerStopTimeout = 5 * time.Second
	store := statemanager.NewMemory()
	t.Cleanup(func() { removeClusterContainers(t, d, cluster) })

	imgs, err := images.New(images.Options{Runtime: d, Store: store, Config: cfg})
	require.NoError(t, err)
	e, err := New(Options{Runtime: d, Images: imgs, Store: store, Config: cfg, RelistInterval: 5 * time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()

	task := &wire.Task{ARN: "arn:aws:ecs:us-west-2:123456789012:task/" + cluster + "/" + randHex()[:12],
		Family: "it", Version: "1", DesiredStatus: StatusRunning,
		Volumes: []wire.Volume{wireScratchVolume("scratch")},
		Containers: []wire.Container{
			{Name: "web", Image: testImage, Essential: true, Memory: 32, Links: []string{"db:database"},
				Command: []string{"sh", "-c", "trap 'exit 143' TERM; httpd -f -p 8080 & wait"},
				// Under init the shell dies of SIGTERM (143) even if the stop
				// comes before its trap is set, as it can on a busy host.
				LinuxParameters: &wire.LinuxParameters{InitProcessEnabled: new(true)},
				PortMappings:    []wire.PortMapping{{ContainerPort: 8080}},
				MountPoints:     []wire.MountPoint{wireMount("scratch", "/data")}},
			{Name: "db", Image: testImage, Memory: 32, Command: runCmd},
		}}
	require.NoError(t, e.AddTask(t.Context(), task))

	report := func() TaskReport {
		for _, r := range e.Reports() {
			if r.TaskARN == task.ARN {
				return r
			}
		}
		return TaskReport{}
	}
	require.Eventually(t, func() bool { return report().Status == StatusRunning }, 60*time.Second, 50*time.Millisecond,
		"task never reached RUNNING: %+v", report())
	r := report()
	web := r.container("web")
	require.Len(t, web.NetworkBindings, 1)
	hostPort := web.NetworkBindings[0].HostPort
	info, err := d.InspectContainer(t.Context(), web.RuntimeID)
	require.NoError(t, err)
	assert.Equal(t, cluster, info.Labels[LabelCluster])
	assert.Equal(t, task.ARN, info.Labels[LabelTaskARN])
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(hostPort), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "host port %d does not reach the container", hostPort)

	require.NoError(t, e.AddTask(t.Context(), stopOf(task)))
	require.Eventually(t, func() bool { return report().Status == StatusStopped }, 30*time.Second, 50*time.Millisecond)
	r = report()
	require.NotNil(t, r.container("web").ExitCode)
	assert.Equal(t, 143, *r.container("web").ExitCode)
	assert.NotNil(t, r.ExecutionStoppedAt)

	require.NoError(t, e.MarkReported(t.Context(), task.ARN, r.Version))
	require.Eventually(t, func() bool { return len(e.Snapshot()) == 0 }, 30*time.Second, 50*time.Millisecond, "task never cleaned up")
	list, err := d.ListContainers(t.Context(), map[string]string{LabelCluster: cluster})
	require.NoError(t, err)
	assert.Empty(t, list, "cleanup removes the task's containers")
}

func removeClusterContainers(t *testing.T, d *dockerapi.Client, cluster string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := d.ListContainers(ctx, map[string]string{LabelCluster: cluster})
	if err != nil {
		t.Logf("list test containers: %v", err)
		return
	}
	for _, c := range list {
		if err := d.RemoveContainer(ctx, c.ID); err != nil {
			t.Logf("remove test container %s: %v", c.Name, err)
		}
	}
}
