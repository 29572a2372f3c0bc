package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/store/anchor"
)

// setupAnchor installs the checkpoint signing key and the witnesses, signs
// the records written before (so a key added to an old trail anchors it at
// once) and then signs new records every checkpoint_interval.
func setupAnchor(a *App) error {
	c, key := a.Config.Audit, a.res.AuditKey
	if key == nil {
		return nil
	}
	a.DB.SetSigner(key, c.CheckpointEvery)
	log := a.log.With("component", "audit_anchor")
	if c.Witness.URL != "" || c.Witness.File != "" {
		w := anchor.New(anchor.Config{File: c.Witness.File, URL: c.Witness.URL, Logger: log})
		a.DB.OnCheckpointSigned(w.Offer)
		a.Go(w.Run)
	}
	every := time.Duration(c.CheckpointInterval)
	if every <= 0 {
		every = time.Minute
	}
	a.GoLeader(func(ctx context.Context) { signCheckpoints(ctx, a.DB, every, log) })
	return nil
}

// signCheckpoints signs the newest record now and then every interval, when
// records were written since the last checkpoint.
func signCheckpoints(ctx context.Context, db store.Backend, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := db.SignCheckpoint(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrClosed) {
			log.Error("signing an audit checkpoint failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
