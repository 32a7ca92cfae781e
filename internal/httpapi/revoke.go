package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// revocation is revokeLinks' answer.
type revocation struct {
	OrderID        int64     `json:"orderId"`
	Tid            int64     `json:"tid,omitempty"`
	WithdrawnUntil time.Time `json:"withdrawnUntil"`
}

// handleRevokeLinks withdraws every link of a ticket, including those not
// yet minted, until LINK_MAX_TTL has passed: by then every link signed before
// now has expired anyway.
func (a *API) handleRevokeLinks(c *call) (*problem, error) {
	orderID, tid, p := a.ticketParams(c)
	if p != nil {
		return p, nil
	}
	c.orderID, c.tid = orderID, a.tidOf(tid)
	until, p := a.revoke(c, orderID, tid)
	if p != nil {
		return p, nil
	}
	c.outcome = "withdrawn"
	writeJSON(c.w, http.StatusOK, revocation{OrderID: orderID, Tid: c.tid, WithdrawnUntil: until})
	return nil, nil
}

// revokedKey names a ticket's revocation; it shares the ticket's hash tag.
func revokedKey(tid, orderID int64) string {
	return fmt.Sprintf("{order:%d/%d}:revoked", tid, orderID)
}

// revoke records the withdrawal in the shared state. Without state every
// instance shares (REDIS_URL under FC) it refuses: the revocation would
// reach the one instance that received it.
func (a *API) revoke(c *call, orderID, tid int64) (until time.Time, p *problem) {
	if !a.deps.StateShared {
		return time.Time{}, newProblem("revocation_not_shared", "Without REDIS_URL every FC instance has its own memory, so a revocation "+
			"would reach only the instance that received it. Set REDIS_URL to share state, or rotate LINK_KEYS to invalidate every link.")
	}
	ttl := a.maxLinkTTL()
	now := a.now()
	until = now.Add(ttl).Truncate(time.Second).UTC()
	if err := a.deps.State.Set(c.r.Context(), revokedKey(a.tidOf(tid), orderID), []byte(strconv.FormatInt(now.Unix(), 10)), ttl); err != nil {
		return time.Time{}, a.failure(c, fmt.Errorf("record revocation: %w", err))
	}
	a.log.Info("links withdrawn", "requestId", c.id, "orderId", orderID, "tid", a.tidOf(tid), "until", until)
	return until, nil
}

// withdrawn says whether the ticket's links were revoked. A store that fails
// is logged and the link honoured: the signature has been checked.
func (a *API) withdrawn(c *call, orderID, tid int64) *problem {
	_, ok, err := a.deps.State.Get(c.r.Context(), revokedKey(a.tidOf(tid), orderID))
	if err != nil {
		a.log.Warn("revocations unavailable", "requestId", c.id, "err", err.Error())
		return nil
	}
	if !ok {
		return nil
	}
	return newProblem("link_withdrawn", fmt.Sprintf("The links of ticket %d were withdrawn. Ask the person who exported it.", orderID))
}

// maxLinkTTL is the longest a link can live: LINK_MAX_TTL, else LINK_TTL.
func (a *API) maxLinkTTL() time.Duration {
	if s := a.deps.Signer; s != nil && s.MaxTTL > 0 {
		return s.MaxTTL
	}
	return a.deps.LinkTTL
}
