package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// downloadResult is the JSON answer of downloadExport for clients that asked
// for JSON instead of a redirect.
type downloadResult struct {
	OrderID   int64      `json:"orderId"`
	Tid       int64      `json:"tid,omitempty"`
	Ready     bool       `json:"ready"`
	URL       string     `json:"downloadUrl"`
	ExpiresAt *time.Time `json:"downloadUrlExpiresAt"`
}

// handleDownload answers a click on a signed link: a redirect to a fresh OSS URL.
func (a *API) handleDownload(c *call) (*problem, error) {
	if notify.IsLinkPreviewer(c.r.UserAgent()) {
		return a.handlePreview(c)
	}
	req := a.dmsRequest(c, c.claims.OrderID, c.claims.Tid)
	res, err := a.resolve(c, req)
	if err != nil {
		return nil, err
	}
	if !res.Ready {
		return a.notReady(res.TipMessage), nil
	}
	c.outcome = "redirect"
	h := c.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if wantsJSON(c.r) {
		c.outcome = "json"
		out := downloadResult{OrderID: req.OrderID, Tid: req.Tid, Ready: true, URL: res.URL}
		if t, ok := exports.ParseExpiry(res.URL); ok {
			t = t.UTC()
			out.ExpiresAt = &t
		}
		writeJSON(c.w, http.StatusOK, out)
		return nil, nil
	}
	h.Set("Location", res.URL)
	c.w.WriteHeader(http.StatusFound)
	return nil, nil
}

// handleDownloadHead answers HEAD from the signature check alone: an OSS URL
// signed for GET answers 403 to HEAD, and link checkers must not cost a DMS call.
func (a *API) handleDownloadHead(c *call) (*problem, error) {
	c.orderID, c.tid = c.claims.OrderID, a.tidOf(c.claims.Tid)
	c.outcome = "link_ok"
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusOK)
	return nil, nil
}

// dmsRequest builds the DMS request for an order, filling the tenant and
// region from configuration.
func (a *API) dmsRequest(c *call, orderID, tid int64) dms.Request {
	c.orderID, c.tid = orderID, a.tidOf(tid)
	return dms.Request{Tid: c.tid, OrderID: orderID, Region: a.deps.Region}
}

func (a *API) tidOf(tid int64) int64 {
	if tid != 0 {
		return tid
	}
	return a.deps.DefaultTid
}

// resolve asks the resolver for the operation's class of the DMS budget and
// records what happened for the log line.
func (a *API) resolve(c *call, req dms.Request) (dms.Result, error) {
	ctx := exports.WithClass(c.r.Context(), budgetClass(c))
	res, err := a.deps.Resolver.Resolve(ctx, req)
	c.cache, c.attempts = res.Cache, res.Attempts
	c.dmsReqID = res.Result.RequestID
	if de, ok := err.(*dms.Error); ok && de.RequestID != "" {
		c.dmsReqID = de.RequestID
	}
	return res.Result, err
}

// budgetClass is whose share of the DMS budget a request spends: people
// clicking links, DMS's webhook, or commands (chat bots and the bearer API).
func budgetClass(c *call) exports.Class {
	op := ""
	if c.route != nil {
		op = c.route.Operation.OperationID
	}
	switch op {
	case operationDownload:
		return exports.ClassClick
	case "receiveDmsWebhook":
		return exports.ClassWebhook
	}
	return exports.ClassCommand
}

func (a *API) notReady(tip string) *problem {
	p := newProblem("export_not_ready", tip)
	if tip == "" {
		p.Detail = "DMS has no file for this ticket yet."
	}
	p.TipMessage = tip
	p.retryAfter = a.deps.NotReadyRetry
	return p
}

// wantsJSON reports whether the client asked for JSON rather than a redirect.
func wantsJSON(r *http.Request) bool {
	return acceptsType(r.Header.Get("Accept"), "application/json")
}

// itoa is strconv.FormatInt for ids.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
