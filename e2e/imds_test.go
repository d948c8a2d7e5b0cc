package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// startIMDS runs AWS's amazon-ec2-metadata-mock on a free loopback port and
// returns its endpoint, for AWS_EC2_METADATA_SERVICE_ENDPOINT.
func startIMDS(t *testing.T) string {
	t.Helper()
	bin, err := lookTool("ec2-metadata-mock")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	start(t, bin, baseEnv(), "-n", "127.0.0.1", "-p", port)
	endpoint := "http://" + addr
	waitFor(t, 20*time.Second, "the metadata mock", func() bool {
		resp, err := http.Get(endpoint + "/latest/meta-data/instance-id")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return endpoint
}
