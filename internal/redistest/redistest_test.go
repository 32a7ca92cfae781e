package redistest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartServesWithoutPersistence(t *testing.T) {
	s := Start(t, Options{Args: []string{"--maxmemory", "3mb"}})
	if got := s.Do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	if got := s.Do("GET", "k"); got != "v" {
		t.Fatalf("GET = %q, want v", got)
	}
	if got := s.Do("CONFIG", "GET", "save"); got != "save\n" {
		t.Fatalf("CONFIG GET save = %q, want no snapshots", got)
	}
	if got := s.Do("CONFIG", "GET", "appendonly"); got != "appendonly\nno" {
		t.Fatalf("CONFIG GET appendonly = %q", got)
	}
	if got := s.Do("CONFIG", "GET", "maxmemory"); got != "maxmemory\n3145728" {
		t.Fatalf("extra argument not applied: CONFIG GET maxmemory = %q", got)
	}
	if !strings.HasPrefix(s.URL, "redis://127.0.0.1:") || !strings.HasSuffix(s.URL, "/0") {
		t.Fatalf("URL = %q", s.URL)
	}
}

func TestPasswordIsRequired(t *testing.T) {
	s := Start(t, Options{Password: "p4ss-word"})
	if got := s.Do("PING"); got != "+PONG" {
		t.Fatalf("PING with the password = %q", got)
	}
	if !strings.Contains(s.URL, ":p4ss-word@") {
		t.Fatalf("URL %q lacks the password", s.URL)
	}
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeCommand(c, "GET", "k"); err != nil {
		t.Fatal(err)
	}
	line, err := readLine(bufio.NewReader(c))
	if err != nil || !strings.HasPrefix(line, "-NOAUTH") {
		t.Fatalf("GET without the password = %q, %v; want -NOAUTH", line, err)
	}
}

func TestKillAndRestart(t *testing.T) {
	s := Start(t, Options{})
	s.Do("SET", "k", "v")
	pid := s.Pid()
	s.Kill()
	if !s.Exited() {
		t.Fatal("Exited() = false after Kill")
	}
	if err := s.ping(); err == nil {
		t.Fatal("a killed server answered PING")
	}
	s.Restart()
	if s.Pid() == pid {
		t.Fatal("Restart kept the old process")
	}
	if got := s.Do("GET", "k"); got != "(nil)" {
		t.Fatalf("GET after restart = %q; want an empty server", got)
	}
}

func TestStopFreezesUntilContinue(t *testing.T) {
	s := Start(t, Options{})
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	s.Stop()
	if err := writeCommand(c, "PING"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if line, err := readLine(r); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a frozen server answered: %q, %v", line, err)
	}
	s.Continue()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := readLine(r); err != nil || line != "+PONG" {
		t.Fatalf("after Continue: %q, %v; want the pending +PONG", line, err)
	}
}

func TestCleanupStopsAFrozenServer(t *testing.T) {
	var s *Server
	t.Run("inner", func(t *testing.T) {
		s = Start(t, Options{})
		s.Stop()
	})
	if !s.Exited() {
		t.Fatal("the server outlived its test")
	}
}
