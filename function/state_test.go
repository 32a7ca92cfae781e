package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/config"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// TestStartUpConnectsToRedis: the initializer opens the instance's first
// Redis connection, so the first click does not spend its REDIS_TIMEOUT on
// dialing.
func TestStartUpConnectsToRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := config.Config{
		RedisURL:     srv.URL,
		RedisTimeout: 5 * time.Second,
		LinkKeys:     []links.Key{{ID: "k1", Secret: bytes.Repeat([]byte("s"), 32)}},
	}
	shared, err := newSharedState(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.close()
	clients := func() int { return strings.Count(strings.TrimSpace(srv.Do("CLIENT", "LIST")), "\n") + 1 }
	before := clients()
	shared.connect()
	if after := clients(); after != before+1 {
		t.Fatalf("Redis clients: %d before start-up's connect, %d after; want one more", before, after)
	}
}
