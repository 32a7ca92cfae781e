// Package fcbinary holds black-box tests and cold-start benchmarks of the
// artefact `s deploy` uploads: the binary built by `make build`, run under
// the fake Function Compute runtime (tests/fcfake) with the DMS emulator
// (internal/dmsfake) behind it, driven by real HTTP requests through the
// fake's HTTP-trigger front door. Nothing here is imported by the function.
package fcbinary
