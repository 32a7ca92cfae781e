package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
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
	orderID, tid, p := a.ticketParams(c)
	if p != nil {
		return p, nil
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

// ticketParams reads the path's orderId and the query's optional tid as
// strictly as the link verifier: canonical decimal, given once. kin-openapi
// alone would take "03000", "+3000" or the first of two tids.
func (a *API) ticketParams(c *call) (orderID, tid int64, p *problem) {
	bad := func(in, name string) (int64, int64, *problem) {
		p := newProblem("bad_request", in+" "+name+": must be written once, in decimal digits without sign or leading zero")
		p.Errors = []fieldError{{In: in, Name: name, Reason: "must be written once, in decimal digits without sign or leading zero"}}
		return 0, 0, p
	}
	orderID, ok := links.ParseID(c.params["orderId"])
	if !ok {
		return bad("path", "orderId")
	}
	switch v := c.query["tid"]; len(v) {
	case 0:
	case 1:
		if tid, ok = links.ParseID(v[0]); !ok {
			return bad("query", "tid")
		}
	default:
		return bad("query", "tid")
	}
	return orderID, tid, nil
}

// linkRequest is createLink's body; openapi.yaml forbids other members.
type linkRequest struct {
	OrderID    int64 `json:"orderId"`
	Tid        int64 `json:"tid"`
	TTLSeconds int64 `json:"ttlSeconds"`
}

const outOfRange = "must be a whole number from 1 to 9223372036854775807"

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
		// The contract checks numbers as float64, so 2^63 passes it and only
		// the decoder finds it out of range: name the field, it is valid JSON.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			p := newProblem("bad_request", "body "+te.Field+": "+outOfRange)
			p.Errors = []fieldError{{In: "body", Name: te.Field, Reason: outOfRange}}
			return p, nil
		}
		return newProblem("bad_json", "The body must be a JSON object with orderId, and optionally tid and ttlSeconds."), nil
	}
	if name := repeatedMember(body); name != "" {
		p := newProblem("bad_request", "body "+name+": is given more than once")
		p.Errors = []fieldError{{In: "body", Name: name, Reason: "is given more than once"}}
		return p, nil
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

// repeatedMember names the first member a JSON object repeats ("" if none):
// encoding/json keeps the last of them, so {"orderId":1,"orderId":2} would
// mean something else to every other reader.
func repeatedMember(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return ""
		}
		if seen[name] {
			return name
		}
		seen[name] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
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
	if p := a.withdrawn(c, orderID, tid); p != nil {
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
