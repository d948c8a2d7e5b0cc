package taskserver

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-ecs/ecs-agent/engine"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// auditLog writes one line per credentials request (ECS_AUDIT_LOGFILE), in
// the Amazon agent's order of fields:
//
//	<time> <status> <caller ip:port> "<path>" "<user agent>" <task arn> <event> <cluster> <container instance arn>
//
// The credentials ID in the path is written as "<id>": with it, a host-mode
// caller could read the credentials, so it is as secret as they are. The
// task ARN ("-" when no task matched) says whose credentials were asked
// for.
type auditLog struct {
	w                 io.Writer
	cluster, instance string
	now               func() time.Time
	log               *slog.Logger

	mu sync.Mutex
}

func newAuditLog(w io.Writer, cluster, instance string, now func() time.Time, log *slog.Logger) *auditLog {
	return &auditLog{w: w, cluster: dash(cluster), instance: dash(instance), now: now, log: log}
}

func (a *auditLog) record(r *http.Request, status int, task *engine.TaskSnapshot, event string) {
	if a.w == nil {
		return
	}
	arn := "-"
	if task != nil {
		arn = task.ARN
	}
	line := fmt.Sprintf("%s %d %s %s %s %s %s %s %s\n",
		a.now().UTC().Format(time.RFC3339), status, r.RemoteAddr, strconv.Quote(auditPath(r)),
		strconv.Quote(r.UserAgent()), arn, event, a.cluster, a.instance)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := io.WriteString(a.w, line); err != nil {
		a.log.Warn("could not write the credentials audit log", logging.KeyError, err)
	}
}

// auditPath is the request path without the credentials ID.
func auditPath(r *http.Request) string {
	p := r.URL.Path
	if strings.HasPrefix(p, engine.CredentialsPath) {
		return engine.CredentialsPath + "<id>"
	}
	if r.URL.RawQuery != "" {
		return p + "?id=<id>"
	}
	return p
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
