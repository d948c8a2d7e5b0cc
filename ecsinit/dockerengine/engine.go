// Package dockerengine is ecs-init's adapter to the Docker engine: the few
// calls the launcher makes (ecsinit.Docker), on the Docker client library.
// The agent's task engine has its own adapter (engine/dockerapi); the two
// need different calls and stay independent.
package dockerengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/open-ecs/ecs-agent/ecsinit"
)

// Engine implements ecsinit.Docker.
type Engine struct{ c *client.Client }

var _ ecsinit.Docker = (*Engine)(nil)

// New returns a client for host (DOCKER_HOST syntax; "" = the default
// socket), negotiating the API version with the engine.
func New(host string) (*Engine, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Engine{c: c}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.c.Close() }

func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := e.c.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.ID, nil
}

func (e *Engine) LoadImage(ctx context.Context, archive io.Reader) error {
	resp, err := e.c.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return drainMessages(resp.Body)
}

func (e *Engine) PullImage(ctx context.Context, ref string) error {
	body, err := e.c.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer body.Close()
	return drainMessages(body)
}

// drainMessages reads Docker's JSON message stream to its end and returns
// the first error it reports.
func drainMessages(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

func (e *Engine) RemoveContainer(ctx context.Context, name string) error {
	err := e.c.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

func (e *Engine) CreateContainer(ctx context.Context, s ecsinit.ContainerSpec) (string, error) {
	stop := int(s.StopTimeout / time.Second)
	init := true
	cfg := &container.Config{
		Image:       s.Image,
		Cmd:         s.Cmd,
		Env:         s.Env,
		Labels:      s.Labels,
		StopTimeout: &stop,
	}
	hc := &container.HostConfig{
		Binds:       s.Binds,
		NetworkMode: "host",
		UsernsMode:  "host",
		CapAdd:      s.CapAdd,
		Init:        &init,
		LogConfig:   container.LogConfig{Type: s.LogDriver, Config: s.LogOptions},
		SecurityOpt: s.SecurityOpt,
	}
	if s.PIDHost {
		hc.PidMode = "host"
	}
	resp, err := e.c.ContainerCreate(ctx, cfg, hc, nil, nil, s.Name)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func (e *Engine) StartContainer(ctx context.Context, id string) error {
	return e.c.ContainerStart(ctx, id, container.StartOptions{})
}

func (e *Engine) WaitContainer(ctx context.Context, id string) (int, error) {
	resCh, errCh := e.c.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-resCh:
		if res.Error != nil && res.Error.Message != "" {
			return 0, errors.New(res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-errCh:
		return 0, err
	}
}

func (e *Engine) StopContainer(ctx context.Context, name string, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	err := e.c.ContainerStop(ctx, name, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

func (e *Engine) CopyLogs(ctx context.Context, id string, stdout, stderr io.Writer) error {
	rc, err := e.c.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(stdout, stderr, rc)
	return err
}
