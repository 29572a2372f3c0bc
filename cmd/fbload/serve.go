package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/firebreak/firebreak/web/loadbase"
)

// logSize is the preallocated size of the bound's log file; appends wrap
// to its start when they reach its end, as a reused log segment would.
const logSize = 64 << 20

// cmdServe runs one comparison handler until SIGTERM or SIGINT. It prints
// the address it listens on as its first line of output.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "bare", "bare (decode, 202) or bound (decode, append and fdatasync, 202)")
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	dir := fs.String("dir", "", "directory for the bound's log file (default: a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var then func([]byte) error
	switch *mode {
	case "bare":
	case "bound":
		d := *dir
		if d == "" {
			var err error
			if d, err = os.MkdirTemp("", "fbload-bound-"); err != nil {
				fmt.Fprintln(stderr, "fbload:", err)
				return 1
			}
			defer os.RemoveAll(d)
		}
		lg, err := openSyncLog(filepath.Join(d, "bound.log"))
		if err != nil {
			fmt.Fprintln(stderr, "fbload:", err)
			return 1
		}
		defer lg.close()
		then = lg.append
	default:
		fmt.Fprintf(stderr, "fbload: -mode %q: want bare or bound\n", *mode)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "fbload:", err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	srv := &http.Server{Handler: loadbase.Handler(then)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "fbload:", err)
		return 1
	}
	return 0
}

// syncLog is the least a durable acknowledgement can cost: callers queue a
// record; one goroutine writes every queued record at once to a
// preallocated file, fdatasyncs it, then answers them all. While it
// flushes, the next group queues.
type syncLog struct {
	f       *os.File
	ops     chan syncOp
	off     int64
	stop    chan struct{}
	stopped chan struct{}
}

type syncOp struct {
	rec  []byte
	done chan error
}

func openSyncLog(path string) (*syncLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open bound log: %w", err)
	}
	// Zeros written and synced: later syncs flush data only, not the
	// file's size or block map.
	if _, err := f.Write(make([]byte, logSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("preallocate bound log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync bound log: %w", err)
	}
	l := &syncLog{f: f, ops: make(chan syncOp, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.loop()
	return l, nil
}

func (l *syncLog) append(rec []byte) error {
	op := syncOp{rec: rec, done: make(chan error, 1)}
	select {
	case l.ops <- op:
	case <-l.stop:
		return errors.New("bound log closed")
	}
	return <-op.done
}

func (l *syncLog) close() {
	close(l.stop)
	<-l.stopped
	l.f.Close()
}

func (l *syncLog) loop() {
	defer close(l.stopped)
	var batch []syncOp
	var buf []byte
	for {
		select {
		case op := <-l.ops:
			batch, buf = append(batch[:0], op), append(buf[:0], op.rec...)
		drain:
			for {
				select {
				case op := <-l.ops:
					batch, buf = append(batch, op), append(buf, op.rec...)
				default:
					break drain
				}
			}
			if l.off+int64(len(buf)) > logSize {
				l.off = 0
			}
			var err error
			if len(buf) > logSize {
				err = errors.New("group larger than the bound log")
			} else if _, err = l.f.WriteAt(buf, l.off); err == nil {
				err = syscall.Fdatasync(int(l.f.Fd()))
			}
			l.off += int64(len(buf))
			for _, op := range batch {
				op.done <- err
			}
		case <-l.stop:
			return
		}
	}
}
