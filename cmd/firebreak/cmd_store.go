package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/firebreak/firebreak/cmd/firebreak/app"
	"github.com/firebreak/firebreak/cmd/firebreak/config"
	"github.com/firebreak/firebreak/engine/audit"
	"github.com/firebreak/firebreak/engine/event"
	"github.com/firebreak/firebreak/engine/state"
	"github.com/firebreak/firebreak/store"
)

// cmdStore is `firebreak store migrate`.
func cmdStore(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprintln(stderr, "usage: firebreak store migrate --from-data-dir DIR --config FILE")
		return 2
	}
	fs := flag.NewFlagSet("store migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from-data-dir", "", "the single node's data directory (its firebreak.db; the server must be stopped)")
	configPath := fs.String("config", "", "the configuration whose store.etcd names the empty etcd prefix to fill")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *from == "" || *configPath == "" {
		fmt.Fprintln(stderr, "firebreak: store migrate needs --from-data-dir DIR and --config FILE")
		return 2
	}
	rep, err := migrate(context.Background(), *from, *configPath)
	if err != nil {
		fmt.Fprintln(stderr, "firebreak: store migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "migrated %d inbox events (%d unfinished), %d state keys in %d buckets and %d audit records into etcd %s\n",
		rep.events, rep.pending, rep.stateKeys, rep.buckets, rep.records, rep.prefix)
	fmt.Fprintln(stdout, "check it with: firebreak audit verify --config", *configPath)
	return 0
}

type migrateReport struct {
	prefix                                       string
	events, pending, stateKeys, buckets, records int
}

// Sizes of the chunks written per etcd transaction (≤ 128 operations).
const (
	migrateInboxChunk = 40 // three keys per event
	migrateStateChunk = 60
	migrateAuditChunk = 20 // a record and its index keys
)

// migrate copies the bbolt store of dir into the empty etcd prefix of the
// configuration at configPath: the inbox (events keep their sequences and
// idempotency keys; unfinished ones stay pending and are taken over by the
// first replica), every state bucket, and the audit trail in order, so
// that the chain the etcd store recomputes is the same sequence.
func migrate(ctx context.Context, dir, configPath string) (migrateReport, error) {
	var rep migrateReport
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return rep, err
	}
	e, node, err := config.ResolveStore(cfg)
	if err != nil {
		return rep, err
	}
	if e == nil {
		return rep, fmt.Errorf("%s has no store.etcd: name the etcd cluster to migrate into", configPath)
	}
	rep.prefix = e.Prefix
	path := filepath.Join(dir, "firebreak.db")
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("no single-node store: %w", err)
	}
	src, err := store.Open(path, store.Options{ReadOnly: true, LockTimeout: 300 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return rep, fmt.Errorf("%s is held by a running server: stop it first: %w", path, err)
	}
	if err != nil {
		return rep, err
	}
	defer src.Close()
	buckets, err := stateBuckets(path)
	if err != nil {
		return rep, err
	}

	cli, err := rawEtcd(*e)
	if err != nil {
		return rep, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, e.Prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return rep, fmt.Errorf("read etcd prefix %s: %w", e.Prefix, err)
	}
	if resp.Count > 0 {
		return rep, fmt.Errorf("etcd prefix %s is not empty (%d keys): migrate only into an empty prefix; pick another store.etcd.prefix or delete it (etcdctl del --prefix %s/)", e.Prefix, resp.Count, e.Prefix)
	}

	// 1. The inbox, sequences kept (the state names events by them), in
	// the etcd store's layout (see store/etcd/doc.go).
	pending := map[uint64]bool{}
	for after := uint64(0); ; {
		seqs, err := src.Pending(ctx, after, 1000)
		if err != nil {
			return rep, fmt.Errorf("read pending events: %w", err)
		}
		if len(seqs) == 0 {
			break
		}
		for _, q := range seqs {
			pending[q] = true
		}
		after = seqs[len(seqs)-1]
	}
	var ops []clientv3.Op
	var last uint64
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	// A migrated unfinished event is owned by a session that never
	// existed: the first replica's takeover adopts it. Its token is -1,
	// which no member key's CreateRevision can equal; not 0, which is what
	// etcd reports for a missing key, so the takeover would take the owner
	// for alive and its compare (CreateRevision != token) would never hold.
	const orphanOwner = "-1/migrated"
	err = src.EventsSince(ctx, 0, func(seq uint64, ev event.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%020d", seq)
		ops = append(ops,
			clientv3.OpPut(e.Prefix+"/inbox/"+name, string(b)),
			clientv3.OpPut(e.Prefix+"/seen/"+ev.ID, strconv.FormatUint(seq, 10)))
		if pending[seq] {
			ops = append(ops, clientv3.OpPut(e.Prefix+"/pending/"+name, orphanOwner))
			rep.pending++
		}
		rep.events++
		last = max(last, seq)
		if len(ops) >= 3*migrateInboxChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil && last > 0 {
		_, err = cli.Put(ctx, e.Prefix+"/meta/seq", strconv.FormatUint(last, 10))
	}
	if err != nil {
		return rep, fmt.Errorf("copy the inbox: %w", err)
	}

	// 2. The state and the audit trail, through the etcd store.
	dst, err := app.OpenEtcd(ctx, *e, fmt.Sprintf("migrate.%s.%d", node, os.Getpid()), time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		return rep, err
	}
	defer dst.Close()
	for _, b := range buckets {
		type kv struct {
			k string
			v []byte
		}
		var all []kv
		if err := src.View(ctx, func(tx state.Tx) error {
			all = all[:0]
			return tx.ForEach(b, func(k string, v []byte) error {
				all = append(all, kv{k, append([]byte(nil), v...)})
				return nil
			})
		}); err != nil {
			return rep, fmt.Errorf("read state bucket %s: %w", b, err)
		}
		for i := 0; i < len(all); i += migrateStateChunk {
			chunk := all[i:min(i+migrateStateChunk, len(all))]
			if err := dst.Update(ctx, func(tx state.Tx) error {
				for _, p := range chunk {
					if err := tx.Put(b, p.k, p.v); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return rep, fmt.Errorf("write state bucket %s: %w", b, err)
			}
		}
		rep.buckets++
		rep.stateKeys += len(all)
	}
	srcCount, err := src.VerifyAudit(ctx)
	if err != nil {
		return rep, fmt.Errorf("the single node's audit trail does not verify; not migrating it: %w", err)
	}
	q := audit.Query{Limit: 1000}
	for {
		recs, next, err := src.ListAudit(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("read the audit trail: %w", err)
		}
		for i := 0; i < len(recs); i += migrateAuditChunk {
			if err := dst.Audit(ctx, recs[i:min(i+migrateAuditChunk, len(recs))]...); err != nil {
				return rep, fmt.Errorf("write the audit trail: %w", err)
			}
		}
		rep.records += len(recs)
		if next == 0 {
			break
		}
		q.After = next
	}
	n, err := dst.VerifyAudit(ctx)
	if err != nil {
		return rep, fmt.Errorf("the migrated trail does not verify: %w", err)
	}
	if n != srcCount {
		return rep, fmt.Errorf("the migrated trail holds %d records, the single node's %d", n, srcCount)
	}
	return rep, nil
}

// stateBuckets lists the state buckets of the bbolt file (opened again,
// read-only, for their names).
func stateBuckets(path string) ([]string, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var names []string
	err = db.View(func(tx *bolt.Tx) error {
		parent := tx.Bucket([]byte("state"))
		if parent == nil {
			return nil
		}
		return parent.ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	return names, err
}

// rawEtcd is a plain client of the cluster e names.
func rawEtcd(e config.Etcd) (*clientv3.Client, error) {
	var tc *tls.Config
	if e.CAFile != "" || e.CertFile != "" {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if e.CAFile != "" {
			pem, err := os.ReadFile(e.CAFile)
			if err != nil {
				return nil, fmt.Errorf("store.etcd.tls.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			tc.RootCAs.AppendCertsFromPEM(pem)
		}
		if e.CertFile != "" {
			pair, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("store.etcd.tls: %w", err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: e.Endpoints, DialTimeout: 5 * time.Second, TLS: tc,
		Username: e.Username, Password: e.Password, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	return cli, nil
}
