package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/links"
)

// link is a signed link to downloadExport.
type link struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// exportStatus is getExport's answer.
type exportStatus struct {
	OrderID    int64  `json:"orderId"`
	Tid        int64  `json:"tid,omitempty"`
	Ready      bool   `json:"ready"`
	TipMessage string `json:"tipMessage"`
	Link       link   `json:"link"`
}

// handleGetExport tells a bot whether a ticket has a file and gives it a
// signed link to post; never the OSS URL itself.
func (a *API) handleGetExport(c *call) (*problem, error) {
	orderID, err := strconv.ParseInt(c.params["orderId"], 10, 64)
	if err != nil { // validated already; keep the guard for safety
		return newProblem("bad_request", "orderId must be a positive integer."), nil
	}
	var tid int64
	if s := c.r.URL.Query().Get("tid"); s != "" {
		if tid, err = strconv.ParseInt(s, 10, 64); err != nil {
			return newProblem("bad_request", "tid must be a positive integer."), nil
		}
	}
	req := a.dmsRequest(c, orderID, tid)
	res, err := a.resolve(c, req)
	if err != nil {
		return nil, err
	}
	l, p := a.mintLink(c, req.OrderID, tid, 0)
	if p != nil {
		return p, nil
	}
	c.outcome = "status"
	writeJSON(c.w, http.StatusOK, exportStatus{OrderID: req.OrderID, Tid: req.Tid, Ready: res.Ready, TipMessage: res.TipMessage, Link: l})
	return nil, nil
}

// linkRequest is createLink's body; openapi.yaml forbids other members.
type linkRequest struct {
	OrderID    int64 `json:"orderId"`
	Tid        int64 `json:"tid"`
	TTLSeconds int64 `json:"ttlSeconds"`
}

// handleCreateLink mints a signed link without calling DMS.
func (a *API) handleCreateLink(c *call) (*problem, error) {
	var in linkRequest
	body, err := io.ReadAll(c.r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newProblem("body_too_large", ""), nil
		}
		return nil, err
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return newProblem("bad_json", "The body must be a JSON object with orderId, and optionally tid and ttlSeconds."), nil
	}
	c.orderID, c.tid = in.OrderID, a.tidOf(in.Tid)
	l, p := a.mintLink(c, in.OrderID, in.Tid, time.Duration(in.TTLSeconds)*time.Second)
	if p != nil {
		return p, nil
	}
	c.outcome = "link_created"
	writeJSON(c.w, http.StatusCreated, l)
	return nil, nil
}

// mintLink signs a link for orderID. tid 0 leaves the tenant to DMS_TID at
// click time; ttl 0 means LINK_TTL.
func (a *API) mintLink(c *call, orderID, tid int64, ttl time.Duration) (link, *problem) {
	s := a.deps.Signer
	if s == nil || len(s.Keys) == 0 {
		return link{}, problemFor(links.ErrNoKeys)
	}
	if ttl <= 0 {
		ttl = a.deps.LinkTTL
	}
	if s.MaxTTL > 0 && ttl > s.MaxTTL {
		p := newProblem("bad_request", "ttlSeconds is longer than LINK_MAX_TTL allows.")
		p.Errors = []fieldError{{In: "body", Name: "ttlSeconds", Reason: "exceeds the maximum lifetime " + s.MaxTTL.String()}}
		return link{}, p
	}
	exp := a.now().Add(ttl).Truncate(time.Second)
	q, err := s.Sign(links.Claims{OrderID: orderID, Tid: tid, Expires: exp})
	if err != nil {
		return link{}, problemFor(err)
	}
	if a.deps.PublicBaseURL == nil {
		return link{}, newProblem("public_base_url_missing", "Set PUBLIC_BASE_URL to the function's address: links are never minted on the request's Host.")
	}
	u := *a.deps.PublicBaseURL
	u.Path = strings.TrimSuffix(u.Path, "/") + "/exports/" + itoa(orderID) + "/download"
	u.RawQuery = q.Encode()
	return link{URL: u.String(), ExpiresAt: exp.UTC()}, nil
}
