// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary directory, with no persistence, stopped when the test
// ends. Tests can kill it or freeze it mid-test to see how the code under
// test degrades. Only tests import it.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/secrettest"
)

// Binary is the redis-server the tests run (Debian's package).
const Binary = "/usr/bin/redis-server"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Options configure Start. The zero value is a server without a password.
type Options struct {
	Password string   // when set, the server requires it (--requirepass)
	Args     []string // extra redis-server arguments, e.g. "--maxmemory", "1mb"
}

// Server is one running redis-server.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// URL is redis://[:password@]host:port/0, ready for REDIS_URL.
	URL string
	// Password is Options.Password.
	Password string

	t    testing.TB
	dir  string
	opts Options
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}      // closed when the process has exited
	out  *secrettest.Buffer // the server's own log, shown when it fails to start
}

// Start runs a redis-server and waits until it answers PING. It fails the
// test when redis-server is missing or does not come up, and stops the
// server (and removes its directory) when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("redistest: %s not found: apt-get install -y redis-server", Binary)
	}
	dir := t.TempDir()
	// A port found free can be taken before redis-server binds it; then the
	// server exits at once and another port is tried.
	var lastErr error
	for range 5 {
		s, err := start(t, dir, o)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

func start(t testing.TB, dir string, o Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Password: o.Password,
		t: t, dir: dir, opts: o, port: port}
	u := url.URL{Scheme: "redis", Host: s.Addr, Path: "/0"}
	if o.Password != "" {
		u.User = url.UserPassword("", o.Password)
	}
	s.URL = u.String()
	if err := s.launch(); err != nil {
		return nil, err
	}
	t.Cleanup(s.kill)
	return s, nil
}

// launch starts the process on s.port and waits until it answers PING.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	args = append(args, s.opts.Args...)
	out := &secrettest.Buffer{}
	cmd := exec.Command(Binary, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if err := s.ping(); err == nil {
			return nil
		}
		select {
		case <-done:
			if strings.Contains(out.String(), "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("redis-server exited before answering PING: %s", lastLines(out.String()))
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("redis-server did not answer PING within %v: %s", startTimeout, lastLines(out.String()))
		}
	}
}

// Restart kills the server if it runs and starts a new, empty one on the
// same address with the same options: Redis coming back after an outage.
func (s *Server) Restart() {
	s.t.Helper()
	s.kill()
	if err := s.launch(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Kill ends the server with SIGKILL, as a crash or an OOM kill would, and
// waits until it is gone.
func (s *Server) Kill() {
	s.t.Helper()
	s.kill()
}

// Stop freezes the server with SIGSTOP: connections stay open and requests
// hang, as with a server stuck in a long command or a network black hole.
func (s *Server) Stop() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
}

// Continue resumes a server frozen by Stop.
func (s *Server) Continue() {
	s.t.Helper()
	s.signal(syscall.SIGCONT)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v to redis-server: %v", sig, err)
	}
}

// kill is Kill without test reporting, safe to call more than once.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
	<-done
}

// Exited reports whether the server process has ended.
func (s *Server) Exited() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Do sends one command to the server (authenticating first when it has a
// password) and returns its reply as text: a status or error line as sent
// ("+OK", "-ERR ..."), an integer without its colon, a bulk string's
// content ("(nil)" for none), an array's elements joined by newlines. It is
// for setting up and checking the server without a client library;
// connection errors fail the test.
func (s *Server) Do(args ...string) string {
	s.t.Helper()
	reply, err := s.do(args...)
	if err != nil {
		s.t.Fatalf("redistest: %s: %v", args[0], err)
	}
	return reply
}

func (s *Server) ping() error {
	reply, err := s.do("PING")
	if err != nil {
		return err
	}
	if reply != "+PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

func (s *Server) do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if s.Password != "" {
		if err := writeCommand(c, "AUTH", s.Password); err != nil {
			return "", err
		}
		line, err := readLine(r)
		if err != nil {
			return "", err
		}
		if line != "+OK" {
			return "", fmt.Errorf("AUTH answered %q", line)
		}
	}
	if err := writeCommand(c, args...); err != nil {
		return "", err
	}
	return readReply(r)
}

// readReply reads one RESP2 reply as Do describes it.
func readReply(r *bufio.Reader) (string, error) {
	line, err := readLine(r)
	if err != nil || line == "" {
		return line, err
	}
	switch line[0] {
	case ':':
		return line[1:], nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "(nil)", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "(nil)", err
		}
		elems := make([]string, n)
		for i := range elems {
			if elems[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(elems, "\n"), nil
	}
	return line, nil
}

// writeCommand sends args as a RESP array of bulk strings.
func writeCommand(c net.Conn, args ...string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := c.Write(b.Bytes())
	return err
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// freePort asks the kernel for a loopback port nobody listens on.
// redis-server cannot take a listener handed to it, so the port is released
// before the server binds it; Start retries when another process wins it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}
