package exports

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// PolicyError says the OSS URL that DMS returned failed the scheme or host
// allow-list check. It is our configuration (or DMS misbehaving), not the
// user's request, so the caller answers 502. It never holds the URL's path or
// query, which carry the signature.
type PolicyError struct {
	Host   string // the URL's host without port; empty when the URL has none
	Reason string // what failed, e.g. "host not allowed"
}

func (e *PolicyError) Error() string {
	if e.Host == "" {
		return "exports: download URL refused: " + e.Reason
	}
	return fmt.Sprintf("exports: download URL refused: %s (host %q)", e.Reason, e.Host)
}

// maxHostLen bounds the host echoed in a PolicyError; DNS names are at most 253.
const maxHostLen = 253

// checkURL applies the redirect policy to a URL from DMS: https (or plain
// http to a loopback host when allowHTTPLoopback), no userinfo, no explicit
// port other than the scheme's default (any port on loopback when
// allowHTTPLoopback), and a host passing HostAllowed. The parse error of
// net/url is not wrapped because its text holds the whole URL.
func checkURL(raw string, allowed []string, allowHTTPLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &PolicyError{Reason: "unparseable URL"}
	}
	if u.Opaque != "" || u.Host == "" {
		return &PolicyError{Reason: "no host"}
	}
	host := u.Hostname()
	if len(host) > maxHostLen {
		host = host[:maxHostLen]
	}
	if u.User != nil {
		return &PolicyError{Host: host, Reason: "userinfo in URL"}
	}
	loopbackOK := allowHTTPLoopback && isLoopback(host)
	defaultPort := ""
	switch u.Scheme {
	case "https":
		defaultPort = "443"
	case "http":
		if !loopbackOK {
			return &PolicyError{Host: host, Reason: "plain http"}
		}
		defaultPort = "80"
	default:
		return &PolicyError{Host: host, Reason: "scheme not allowed"}
	}
	if p := u.Port(); p != "" && p != defaultPort && !loopbackOK {
		return &PolicyError{Host: host, Reason: "explicit port"}
	}
	if !HostAllowed(host, allowed) {
		return &PolicyError{Host: host, Reason: "host not allowed"}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HostAllowed reports whether host (without port or brackets) matches one of
// patterns, case-insensitively. A pattern is an exact host or IP literal, or
// "*.suffix", which matches any DNS name with at least one label before
// ".suffix" ("*.aliyuncs.com" matches "a.aliyuncs.com" and
// "a.b.aliyuncs.com" but not "aliyuncs.com"). Hosts that are not a plain DNS
// name or IP literal (empty labels, a trailing dot, userinfo, ports, percent
// signs, non-ASCII) never match, and wildcards never match IP literals.
func HostAllowed(host string, patterns []string) bool {
	h, hIP, ok := canonicalHost(host)
	if !ok {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		if suffix, isWild := strings.CutPrefix(p, "*."); isWild {
			if hIP != nil || !validDNSName(suffix) {
				continue
			}
			// h is a valid name, so a match leaves at least one whole label in front.
			if strings.HasSuffix(h, "."+suffix) {
				return true
			}
			continue
		}
		pc, pIP, ok := canonicalHost(p)
		if !ok {
			continue
		}
		if hIP != nil || pIP != nil {
			if hIP != nil && pIP != nil && hIP.Equal(pIP) {
				return true
			}
			continue
		}
		if pc == h {
			return true
		}
	}
	return false
}

// canonicalHost lower-cases host and returns it with its IP when it is an IP
// literal; ok is false when it is neither an IP literal nor a valid DNS name.
func canonicalHost(host string) (string, net.IP, bool) {
	h := strings.ToLower(host)
	if ip := net.ParseIP(h); ip != nil {
		return h, ip, true
	}
	return h, nil, validDNSName(h)
}

// validDNSName accepts LDH names: labels of 1-63 [a-z0-9-] not starting or
// ending with '-', no empty label, no trailing dot, and a last label that is
// not all digits (so "1.2.3.04"-style near-IPs are not names either).
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
