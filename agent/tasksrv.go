package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/open-ecs/ecs-agent/agent/credentials"
	"github.com/open-ecs/ecs-agent/agent/stats"
	"github.com/open-ecs/ecs-agent/agent/taskserver"
	"github.com/open-ecs/ecs-agent/config"
	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Credentials of tasks the engine no longer has are dropped this often,
// once they are older than credentialsGrace (ACS hands a new task's
// credentials over just before the engine knows the task).
const (
	credentialsPruneInterval = time.Minute
	credentialsGrace         = 5 * time.Minute
)

// taskServerInput is what the task metadata endpoint needs from start-up.
type taskServerInput struct {
	Config       *config.Config
	Registration registration
	Tasks        taskEngine
	Credentials  *credentials.Store
	Stats        *stats.Collector // nil: ECS_DISABLE_METRICS, or a runtime without stats
	API          ecsAPI
	Audit        io.Writer
	Logger       *slog.Logger
}

func newTaskServer(in taskServerInput) (*taskserver.Server, error) {
	cfg := in.Config
	o := taskserver.Options{
		Tasks:                in.Tasks,
		Credentials:          in.Credentials,
		Cluster:              cfg.Cluster,
		ContainerInstanceARN: in.Registration.ContainerInstanceARN,
		RateLimit:            float64(cfg.TaskMetadataSteadyStateRate),
		Burst:                cfg.TaskMetadataBurstRate,
		Audit:                in.Audit,
		Logger:               in.Logger,
	}
	if !cfg.TaskMetadataAZDisabled {
		o.AvailabilityZone = in.Registration.AvailabilityZone
	}
	if tl, ok := in.API.(tagLister); ok {
		o.Tags = ecsTags{tl}
	}
	if in.Stats != nil {
		o.Stats = latestStats{in.Stats}
	}
	return taskserver.New(o)
}

// latestStats serves the stats collector's newest sample of a container,
// as Docker's JSON: the collector is the one reader of Docker's stats,
// shared with TCS.
type latestStats struct{ c *stats.Collector }

func (l latestStats) LatestStats(dockerID string) (json.RawMessage, bool) {
	s, ok := l.c.Latest(dockerID)
	if !ok || len(s.Raw) == 0 {
		return nil, false
	}
	return s.Raw, true
}

// openAuditLog opens the credentials audit log (ECS_AUDIT_LOGFILE) when
// task roles are on and the log is not disabled; nil otherwise. A log that
// cannot be opened stops the agent: credentials must not be served
// without the record the operator asked for.
func openAuditLog(cfg *config.Config) (io.WriteCloser, error) {
	if !cfg.TaskIAMRoleEnabled || cfg.CredentialsAuditLogDisabled || cfg.CredentialsAuditLogFile == "" {
		return nil, nil
	}
	w, err := logging.OpenFile(logging.Options{File: cfg.CredentialsAuditLogFile, RolloverType: cfg.LogRolloverType,
		MaxFileSizeMB: cfg.LogMaxFileSizeMB, MaxRollCount: cfg.LogMaxRollCount})
	if err != nil {
		return nil, fmt.Errorf("credentials audit log (ECS_AUDIT_LOGFILE=%s; ECS_AUDIT_LOGFILE_DISABLED=true turns it off): %w",
			cfg.CredentialsAuditLogFile, err)
	}
	return w, nil
}

// metadataFiles configures container metadata files
// (ECS_ENABLE_CONTAINER_METADATA), or nil when they are off.
func metadataFiles(cfg *config.Config, reg registration) *engine.MetadataFiles {
	if !cfg.ContainerMetadataEnabled {
		return nil
	}
	mf := &engine.MetadataFiles{
		Dir:                  filepath.Join(cfg.DataDir, "metadata"),
		HostDir:              filepath.Join(hostDataDir(cfg), "metadata"),
		Cluster:              cfg.Cluster,
		ContainerInstanceARN: reg.ContainerInstanceARN,
	}
	if !cfg.TaskMetadataAZDisabled {
		mf.AvailabilityZone = reg.AvailabilityZone
	}
	return mf
}

// hostDataDir is ECS_DATADIR as the Docker host sees it: under
// ECS_HOST_DATA_DIR when that is set (the agent runs in a container, as
// ecs-init starts it), else ECS_DATADIR itself (the agent runs on the host).
func hostDataDir(cfg *config.Config) string {
	if cfg.Source("ECS_HOST_DATA_DIR") != config.SourceDefault && cfg.DataDirOnHost != "" {
		return filepath.Join(cfg.DataDirOnHost, "data")
	}
	return cfg.DataDir
}

// pruneCredentials drops, every minute, the credentials of tasks the
// engine has cleaned up.
func pruneCredentials(store *credentials.Store, tasks taskEngine, log *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(credentialsPruneInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			live := map[string]bool{}
			for _, s := range tasks.Snapshot() {
				live[s.ARN] = true
			}
			if n := store.Prune(func(arn string) bool { return live[arn] }, credentialsGrace); n > 0 {
				log.Info("dropped the credentials of cleaned-up tasks", logging.KeyCount, n)
			}
		}
	}
}

// tagLister is the ECS call behind taskWithTags (ecs.Client).
type tagLister interface {
	ListTagsForResource(ctx context.Context, in *ecs.ListTagsForResourceInput, opts ...func(*ecs.Options)) (*ecs.ListTagsForResourceOutput, error)
}

// ecsTags reads tags with ListTagsForResource, as the Amazon agent does.
type ecsTags struct{ api tagLister }

func (t ecsTags) ListTags(ctx context.Context, arn string) (map[string]string, error) {
	out, err := t.api.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("ListTagsForResource %s: %w", arn, err)
	}
	tags := map[string]string{}
	for _, tag := range out.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return tags, nil
}
