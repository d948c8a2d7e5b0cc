package wsserver_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/open-ecs/ecs-agent/controlplane/authz"
	"github.com/open-ecs/ecs-agent/controlplane/wsserver"
)

func TestRejectInstance(t *testing.T) {
	denied := &authz.DeniedError{Principal: authz.Principal{ARN: "arn:aws:iam::1:user/a"}, Action: "Poll", Reason: "no"}
	for _, tc := range []struct {
		err    error
		status int
		body   string
	}{
		{fmt.Errorf("check: %w", wsserver.ErrInvalidCluster), http.StatusBadRequest, `{"InvalidClusterException":"Invalid cluster"}`},
		{wsserver.ErrInvalidInstance, http.StatusBadRequest, `{"InvalidInstanceException":"Invalid instance"}`},
		{wsserver.ErrInactiveInstance, http.StatusBadRequest, `{"InactiveInstanceException":"Container instance is inactive"}`},
		{fmt.Errorf("wrapped: %w", denied), http.StatusForbidden, `{"AccessDeniedException":` + fmt.Sprintf("%q", denied.ErrorMessage()) + `}`},
		{errors.New("store down"), http.StatusInternalServerError, `{"ServerException":"Internal server error"}`},
	} {
		rec := httptest.NewRecorder()
		wsserver.RejectInstance(rec, slog.New(slog.DiscardHandler), "ACS", tc.err)
		assert.Equal(t, tc.status, rec.Code, tc.err.Error())
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		assert.JSONEq(t, tc.body, rec.Body.String(), tc.err.Error())
	}
}
