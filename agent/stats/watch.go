package stats

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/open-ecs/ecs-agent/engine/runtime"
	"github.com/open-ecs/ecs-agent/internal/backoff"
	"github.com/open-ecs/ecs-agent/internal/logging"
)

// Retry of a broken stream or a failed poll.
const (
	watchBackoffMin = time.Second
	watchBackoffMax = 30 * time.Second
)

// watch feeds samples of container id until ctx ends or the container is
// gone.
func (c *Collector) watch(ctx context.Context, id string) {
	log := c.log.With(logging.KeyDockerID, id)
	bo := backoff.New(watchBackoffMin, watchBackoffMax, 2, 0.2)
	for {
		var err error
		if c.o.Poll {
			err = c.poll(ctx, id)
		} else {
			err = c.stream(ctx, id)
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, runtime.ErrNotFound):
			log.Debug("container is gone; no more stats")
			return
		case err == nil:
			bo.Reset() // a stream that delivered, then went quiet: restart at once
			continue
		}
		wait := bo.Next()
		log.Warn("reading container stats failed; retrying", logging.KeyError, err, logging.KeyBackoff, wait)
		if !backoff.Sleep(ctx, wait) {
			return
		}
	}
}

// stream reads one stats stream. It returns nil when the stream delivered
// samples and then sent nothing for streamInactivity (it is restarted), the
// stream's error otherwise.
func (c *Collector) stream(ctx context.Context, id string) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var quiet atomic.Bool // the watchdog ended the stream
	watchdog := time.AfterFunc(streamInactivity, func() {
		quiet.Store(true)
		cancel()
	})
	defer watchdog.Stop()
	got := false
	err := c.o.Runtime.StreamStats(sctx, id, func(s runtime.ContainerStats) {
		got = true
		watchdog.Reset(streamInactivity)
		c.add(id, s)
	})
	switch {
	case !quiet.Load():
		if err == nil && ctx.Err() == nil {
			err = errors.New("the stats stream ended")
		}
		return err
	case !got:
		return errors.New("the stats stream sent nothing for " + streamInactivity.String())
	}
	return nil
}

// poll reads one sample every PollInterval until ctx ends or a read fails.
func (c *Collector) poll(ctx context.Context, id string) error {
	tick := time.NewTicker(c.o.PollInterval)
	defer tick.Stop()
	for {
		s, err := c.o.Runtime.StatsOnce(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		c.add(id, s)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
