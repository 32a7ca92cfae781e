package httpapi

import (
	"strings"
	"testing"
)

// A view the handler cannot use fails where it is read: a route without
// its operation's document fails New; a document that does not load or
// does not hold its operation fails that operation's first request.
func TestContractRefusesABrokenView(t *testing.T) {
	t.Parallel()
	const routes = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n" +
		"  /a:\n    get: {operationId: opA, responses: {default: {description: x}}}\n" +
		"  /b:\n    get: {operationId: opB, responses: {default: {description: x}}}\n"
	if _, err := loadContract([]byte(routes + "---\n# operation opA\nopenapi: 3.0.3\n")); err == nil || !strings.Contains(err.Error(), "opB") {
		t.Errorf("a route without its document: %v, want an error naming opB", err)
	}
	ct, err := loadContract([]byte(routes +
		"---\n# operation opA\nopenapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: [not, a, map]\n" +
		"---\n# operation opB\nopenapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /other:\n    get: {operationId: opB, responses: {default: {description: x}}}\n"))
	if err != nil {
		t.Fatalf("loadContract: %v (documents are read on first use)", err)
	}
	for _, id := range []string{"opA", "opB", "opC"} {
		if _, err := ct.route(id); err == nil {
			t.Errorf("route(%s) succeeded on a broken document", id)
		}
	}
}
