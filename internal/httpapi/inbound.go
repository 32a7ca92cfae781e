package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// Challenges of the 401s of the webhook and the chat commands.
const (
	tokenChallenge     = `Token realm="dms-export-link"`
	signatureChallenge = `Signature realm="dms-export-link"`
)

// authenticatePlatform checks what DMS and the chat platforms send: the
// shared webhook token (in the query or a header: two alternative
// requirements in openapi.yaml) and the DingTalk and Slack signatures, over
// the raw request, in constant time. A refusal is recorded in st for the
// caller to answer with; a later alternative that succeeds clears it.
func (a *API) authenticatePlatform(ai *openapi3filter.AuthenticationInput, st *authState) error {
	r := ai.RequestValidationInput.Request
	var p *problem
	switch ai.SecuritySchemeName {
	case "webhookToken", "webhookTokenHeader":
		p = a.checkWebhookToken(r, ai.SecurityScheme)
		if p != nil && p.Code == "webhook_unauthorized" && p.Detail == missingToken && st.refused != nil {
			p = st.refused // a wrong token in one place says more than a missing one in the other
		}
	case "dingtalkSignature":
		p = checkSignature(a.deps.DingTalkAppSecret, "DINGTALK_APP_SECRET",
			notify.VerifyDingTalk(r.Header, a.deps.DingTalkAppSecret, a.now(), a.deps.DingTalkWindow))
		if p == nil {
			st.replay = &replayMark{key: replayKey("dingtalk", r.Header.Get("timestamp"), r.Header.Get("sign")), ttl: 2 * a.deps.DingTalkWindow}
		}
	case "slackSignature":
		body, err := rawBody(r)
		if err != nil {
			return ai.NewError(err) // the body limit; validation reports it as 413
		}
		p = checkSignature(a.deps.SlackSigningSecret, "SLACK_SIGNING_SECRET",
			notify.VerifySlack(r.Header, body, a.deps.SlackSigningSecret, a.now()))
		if p == nil {
			st.replay = &replayMark{key: replayKey("slack", r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature")), ttl: 2 * notify.SlackWindow}
		}
	default:
		return ai.NewError(errors.New("unknown security scheme"))
	}
	st.refused = p
	if p != nil {
		return ai.NewError(errors.New(p.Code))
	}
	return nil
}

const missingToken = "Send DMS_WEBHOOK_TOKEN as the query parameter token or in the X-Webhook-Token header."

// checkWebhookToken checks the token where scheme says it travels.
func (a *API) checkWebhookToken(r *http.Request, scheme *openapi3.SecurityScheme) *problem {
	if a.deps.WebhookToken == "" {
		return newProblem("webhook_token_missing", "Set DMS_WEBHOOK_TOKEN to enable the DMS webhook.")
	}
	var got string
	if scheme != nil && scheme.In == "header" {
		got = r.Header.Get(scheme.Name)
	} else if scheme != nil {
		got = r.URL.Query().Get(scheme.Name)
	}
	if got == "" {
		p := newProblem("webhook_unauthorized", missingToken)
		p.challenge = tokenChallenge
		return p
	}
	if !notify.VerifyToken(got, a.deps.WebhookToken) {
		p := newProblem("webhook_unauthorized", "The token is not the function's DMS_WEBHOOK_TOKEN.")
		p.challenge = tokenChallenge
		return p
	}
	return nil
}

// checkSignature turns a platform verifier's answer into a problem; variable
// names the setting that enables the endpoint.
func checkSignature(secret, variable string, err error) *problem {
	var p *problem
	switch {
	case secret == "":
		return newProblem("bot_secret_missing", "Set "+variable+" to enable this endpoint.")
	case err == nil:
		return nil
	case errors.Is(err, notify.ErrStale):
		p = newProblem("signature_stale", "The signed timestamp is outside the replay window; check the clocks.")
	default:
		p = newProblem("signature_invalid", "Check that "+variable+" matches the platform's setting.")
	}
	p.challenge = signatureChallenge
	return p
}

// rawBody returns the request body as it arrived, leaving it readable again:
// kin-openapi has read it once already and left a replayable copy.
func rawBody(r *http.Request) ([]byte, error) {
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// readBody reads the validated request body for a handler; the size limit
// has been applied by serve.
func readBody(c *call) ([]byte, *problem) {
	b, err := rawBody(c.r)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, newProblem("body_too_large", "")
	case err != nil:
		return nil, newProblem("bad_request", "The request body could not be read.")
	}
	return b, nil
}

// inputProblem turns a notify parser's refusal into a 400 naming the field.
func inputProblem(err error) *problem {
	var ie *notify.InputError
	if !errors.As(err, &ie) {
		return newProblem("bad_request", "The request body is not valid.")
	}
	f := fieldError{In: "body", Name: ie.Field, Reason: ie.Reason}
	detail := "body: " + f.Reason
	if f.Name != "" {
		detail = "body " + f.Name + ": " + f.Reason
	}
	p := newProblem("bad_request", detail)
	p.Errors = []fieldError{f}
	return p
}

// replayMark is a platform signature that verified; it is accepted once.
type replayMark struct {
	key string
	ttl time.Duration // at least as long as the signature stays within its window
}

// replayKey names a signature in the shared state by a hash, so the store
// never holds a usable signature.
func replayKey(platform, ts, sig string) string {
	sum := sha256.Sum256([]byte(ts + "\n" + sig))
	return "replay:" + platform + ":" + hex.EncodeToString(sum[:16])
}

// firstUse remembers a verified signature across instances and refuses it
// the second time. A store that fails lets the request through (and says so
// in the log): the signature has been checked, only its replay memory is
// missing.
func (a *API) firstUse(c *call, m *replayMark) *problem {
	stored, err := a.deps.State.SetNX(c.r.Context(), m.key, []byte{1}, m.ttl)
	if err != nil {
		a.log.Warn("replay memory unavailable", "requestId", c.id, "err", err.Error())
		return nil
	}
	if stored {
		return nil
	}
	p := newProblem("signature_replayed", "This signed request was already answered; the platform signs every request anew.")
	p.challenge = signatureChallenge
	return p
}
