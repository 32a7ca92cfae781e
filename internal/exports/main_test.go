package exports

import (
	"testing"

	"go.uber.org/goleak"
)

// The shared DMS call runs in a goroutine of its own; none may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
