package dms

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
)

// TestAgainstEmulator runs the client against the DMS emulator, which checks
// signatures, tokens, timestamps and nonces as the gateway does.
func TestAgainstEmulator(t *testing.T) {
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID: testCreds.AccessKeyID, AccessKeySecret: testCreds.AccessKeySecret, SecurityToken: testCreds.SecurityToken,
	}, dmsfake.OSSOptions{})
	if err != nil {
		t.Fatalf("dmsfake.Start: %v", err)
	}
	c := newClient(t, Options{Region: "cn-hangzhou", Endpoint: env.DMSHost, Scheme: "http", Timeout: 5 * time.Second})
	t.Cleanup(func() {
		env.Close()
		c.CloseIdleConnections()
	})
	const tid = 3
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tid, OrderID: 1, State: dmsfake.StateReady, File: []byte("a,b\n")})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tid, OrderID: 2, State: dmsfake.StateNotReady, Tip: "exporting"})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tid, OrderID: 3, State: dmsfake.StateFailed, ErrorCode: "UnknownError"})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tid, OrderID: 4, State: dmsfake.StateForbidden})
	for id, f := range map[int64]dmsfake.Fault{
		10: {Throttle: -1}, 11: {ServerErrors: -1}, 12: {Malformed: true}, 13: {Drop: true},
	} {
		env.Gateway.PutTicket(dmsfake.Ticket{Tid: tid, OrderID: id, State: dmsfake.StateReady})
		env.Gateway.SetTicketFault(id, f)
	}
	wrongSecret := testCreds
	wrongSecret.AccessKeySecret = "not-the-secret"
	noToken := testCreds
	noToken.SecurityToken = ""

	tests := []struct {
		name      string
		creds     Credentials
		orderID   int64
		wantReady bool
		wantKind  Kind // ignored when wantErr is false
		wantErr   bool
	}{
		{"ready", testCreds, 1, true, 0, false},
		{"not ready", testCreds, 2, false, 0, false},
		{"business failure", testCreds, 3, false, KindBusiness, true},
		{"forbidden", testCreds, 4, false, KindForbidden, true},
		{"unknown ticket", testCreds, 99, false, KindNotFound, true},
		{"throttled", testCreds, 10, false, KindThrottled, true},
		{"unavailable", testCreds, 11, false, KindUnavailable, true},
		{"malformed", testCreds, 12, false, KindMalformed, true},
		{"dropped", testCreds, 13, false, KindTransport, true},
		{"wrong secret", wrongSecret, 1, false, KindAuth, true},
		{"token dropped", noToken, 1, false, KindAuth, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.DownloadURL(fcContext(context.Background(), tt.creds), Request{Tid: tid, OrderID: tt.orderID})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("DownloadURL: %v", err)
				}
				if got, want := res.Ready, tt.wantReady; got != want {
					t.Errorf("Ready = %v, want %v", got, want)
				}
				if got, want := strings.HasPrefix(res.URL, env.OSSURL+"/"), tt.wantReady; got != want {
					t.Errorf("URL %q from the emulator's bucket: %v, want %v", res.URL, got, want)
				}
				return
			}
			if got, want := asError(t, err).Kind, tt.wantKind; got != want {
				t.Errorf("kind = %v, want %v (%v)", got, want, err)
			}
			assertNoSecrets(t, err)
		})
	}
}
