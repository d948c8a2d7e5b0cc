package metrics

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/open-ecs/ecs-agent/agent/statechange"
)

// stateChangeAPI counts the state changes sent and acknowledged.
type stateChangeAPI struct {
	api statechange.API
	m   *Metrics
}

// StateChangeAPI wraps the SubmitTaskStateChange client: every call counts in
// state_changes_sent_total, every accepted one in
// state_changes_acknowledged_total, by the task status it reported. On a
// nil Metrics (metrics off) it returns api itself.
func (m *Metrics) StateChangeAPI(api statechange.API) statechange.API {
	if m == nil {
		return api
	}
	return stateChangeAPI{api: api, m: m}
}

func (a stateChangeAPI) SubmitTaskStateChange(ctx context.Context, in *ecs.SubmitTaskStateChangeInput, opts ...func(*ecs.Options)) (*ecs.SubmitTaskStateChangeOutput, error) {
	status := aws.ToString(in.Status)
	a.m.sent.WithLabelValues(status).Inc()
	out, err := a.api.SubmitTaskStateChange(ctx, in, opts...)
	if err == nil {
		a.m.acked.WithLabelValues(status).Inc()
	}
	return out, err
}
