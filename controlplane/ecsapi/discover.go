package ecsapi

import (
	"context"
	"net/http"
	"strings"
)

type discoverInput struct {
	ContainerInstance string `json:"containerInstance"`
	Cluster           string `json:"cluster"`
	ZoneID            string `json:"zoneId"`
}

// discoverPollEndpoint tells agents where ACS and TCS are: here. It checks
// nothing about the instance, like ECS, which answers before registration.
func (a *API) discoverPollEndpoint(_ context.Context, r *http.Request, body []byte) (any, error) {
	var in discoverInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	base := a.baseURL(r)
	return map[string]string{
		"endpoint":               base,
		"telemetryEndpoint":      base + "/tcs",
		"serviceConnectEndpoint": base,
	}, nil
}

// baseURL is the configured advertise URL, else the scheme and Host the
// request came in on.
func (a *API) baseURL(r *http.Request) string {
	if a.o.AdvertiseURL != "" {
		return strings.TrimSuffix(a.o.AdvertiseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
