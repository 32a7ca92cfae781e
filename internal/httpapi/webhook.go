package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/notify"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// announceBudget bounds announcing when the invocation has no deadline of its
// own (local runs); under FC the invocation's deadline applies.
const announceBudget = 20 * time.Second

// webhookResult is receiveDmsWebhook's answer. It never carries robot URLs.
type webhookResult struct {
	OrderID       int64      `json:"orderId"`
	Outcome       string     `json:"outcome"`
	TipMessage    string     `json:"tipMessage,omitempty"`
	LinkExpiresAt *time.Time `json:"linkExpiresAt,omitempty"`
	Deliveries    []delivery `json:"deliveries,omitempty"`
}

type delivery struct {
	Robot     string `json:"robot"`
	Delivered bool   `json:"delivered"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
}

// handleDMSWebhook treats a DMS notification as a hint: it asks DMS whether
// the ticket has a file and, if so, announces a fresh signed link to every
// robot, once per ticket per window (the Announcer's job).
func (a *API) handleDMSWebhook(c *call) (*problem, error) {
	body, p := readBody(c)
	if p != nil {
		return p, nil
	}
	ev, err := notify.ParseDMSWebhook(body)
	if err != nil {
		return inputProblem(err), nil
	}
	c.orderID, c.tid = ev.TaskID, a.tidOf(0)
	accepted := func(outcome, tip string) (*problem, error) {
		c.outcome = outcome
		writeJSON(c.w, http.StatusAccepted, webhookResult{OrderID: ev.TaskID, Outcome: outcome, TipMessage: tip})
		return nil, nil
	}
	if e := c.r.Header.Get(notify.DMSEventHeader); e != "" && e != notify.DMSEventValue {
		return accepted("ignored", "")
	}
	ann := a.deps.Announcer
	if ann == nil || len(ann.Robots) == 0 {
		return accepted("no_robots", "")
	}
	if tip := a.staleEvent(ev.EventTime); tip != "" {
		return accepted("stale", tip)
	}

	res, err := a.resolve(c, a.dmsRequest(c, ev.TaskID, 0))
	var de *dms.Error
	switch {
	case errors.As(err, &de) && (de.Kind == dms.KindNotFound || de.Kind == dms.KindBusiness):
		// Approvals, data changes, failed exports: nothing to announce, and
		// nothing a redelivery would change, so no error for DMS to retry.
		dp := dmsProblem(de)
		tip := dp.Title
		if dp.Detail != "" {
			tip += ": " + dp.Detail
		}
		return accepted("no_file", tip)
	case err != nil:
		return nil, err
	case !res.Ready:
		return accepted("not_ready", res.TipMessage)
	}

	l, p := a.mintLink(c, ev.TaskID, 0, 0)
	if p != nil && p.Code == "link_withdrawn" {
		return accepted("withdrawn", p.Detail)
	}
	if p != nil {
		return p, nil
	}
	if p := a.announceBudget(c); p != nil {
		return p, nil
	}
	ctx, cancel := announceContext(c.r.Context())
	defer cancel()
	sent, duplicate := ann.Announce(ctx, notify.Message{
		OrderID: ev.TaskID, TaskName: ev.TaskName, Submitter: ev.SubmitterName, Link: l.URL, ExpiresAt: l.ExpiresAt,
	})
	if duplicate {
		return accepted("duplicate", "")
	}
	out := webhookResult{OrderID: ev.TaskID, Outcome: "announced", LinkExpiresAt: &l.ExpiresAt}
	var failed []string
	for _, d := range sent {
		msg := deliveryError(d.Err)
		out.Deliveries = append(out.Deliveries, delivery{Robot: d.Robot, Delivered: d.Err == nil, Attempts: d.Attempts, Error: msg})
		if d.Err != nil {
			failed = append(failed, d.Robot+": "+msg)
		}
	}
	if len(failed) == len(sent) {
		// Nothing was remembered as delivered, so a redelivery by DMS tries again.
		return newProblem("robots_failed", strings.Join(failed, "; ")), nil
	}
	c.outcome = "announced"
	writeJSON(c.w, http.StatusOK, out)
	return nil, nil
}

// eventFutureSkew is how far ahead of the function's clock an event may be.
const eventFutureSkew = 5 * time.Minute

// staleEvent says why an event is too old (or too far ahead) to announce, or
// "" when it is fresh or carries no time (DMS's older sample has none).
func (a *API) staleEvent(at time.Time) string {
	if at.IsZero() || a.deps.WebhookMaxAge <= 0 {
		return ""
	}
	switch age := a.now().Sub(at); {
	case age > a.deps.WebhookMaxAge:
		return fmt.Sprintf("eventTime is %s old, more than WEBHOOK_MAX_EVENT_AGE (%s).", age.Round(time.Second), a.deps.WebhookMaxAge)
	case -age > eventFutureSkew:
		return fmt.Sprintf("eventTime is %s ahead of the function's clock.", (-age).Round(time.Second))
	}
	return ""
}

// announceBudget spends one announcement from the budget all instances share
// (ANNOUNCE_RATE_LIMIT per minute). A store that fails lets it through.
func (a *API) announceBudget(c *call) *problem {
	if a.deps.AnnounceRate <= 0 {
		return nil
	}
	d, err := a.deps.State.Allow(c.r.Context(), "budget:announce", state.Limit{Events: a.deps.AnnounceRate, Per: time.Minute, Burst: a.deps.AnnounceRate})
	if err != nil {
		a.log.Warn("announcement budget unavailable", "requestId", c.id, "err", err.Error())
		return nil
	}
	if d.Allowed {
		return nil
	}
	p := newProblem("announce_rate_limited", fmt.Sprintf("More than %d announcements a minute (ANNOUNCE_RATE_LIMIT); DMS may deliver the event again later.", a.deps.AnnounceRate))
	p.retryAfter = d.RetryAfter
	return p
}

// announceContext lets the announcement finish when DMS hangs up early (a
// redelivery meanwhile is suppressed as in flight), within the invocation's
// deadline, or announceBudget without one.
func announceContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(parent)
	if deadline, ok := parent.Deadline(); ok {
		return context.WithDeadline(ctx, deadline)
	}
	return context.WithTimeout(ctx, announceBudget)
}

// deliveryError says why a send failed in the words a DMS operator needs:
// status, platform code and message; never the robot's URL, which holds its
// credential.
func deliveryError(err error) string {
	if err == nil {
		return ""
	}
	var parts []string
	var se *notify.SendError
	if errors.As(err, &se) {
		if se.Status != 0 {
			parts = append(parts, fmt.Sprintf("HTTP %d", se.Status))
		}
		if se.Code != "" {
			parts = append(parts, "code "+se.Code)
		}
		if se.Detail != "" {
			parts = append(parts, se.Detail)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		parts = append(parts, "timed out")
	case errors.Is(err, context.Canceled):
		parts = append(parts, "cancelled")
	case se != nil && se.Err != nil:
		parts = append(parts, "connection failed")
	}
	if len(parts) == 0 {
		return "failed"
	}
	return strings.Join(parts, ": ")
}
