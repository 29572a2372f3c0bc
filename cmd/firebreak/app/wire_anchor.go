package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firebreak/firebreak/store"
	"github.com/firebreak/firebreak/store/anchor"
)

// WitnessConfig is `audit.witness`: where signed checkpoints are kept out
// of reach of whoever can edit the database.
type WitnessConfig struct {
	// URL receives each newest checkpoint as a JSON POST.
	URL string `yaml:"url"`
	// File is appended one JSON line per checkpoint; put it on another
	// volume than data_dir.
	File string `yaml:"file"`
}

// setupAnchor installs the checkpoint signing key and the witnesses, signs
// the records written before (so a key added to an old trail anchors it at
// once) and then signs new records every checkpoint_interval.
func setupAnchor(a *App) error {
	c := a.Config.Audit
	if c.SigningKeyFile == "" {
		if c.Witness.URL != "" || c.Witness.File != "" {
			return fmt.Errorf("audit.witness: needs audit.signing_key_file (the witness keeps signed checkpoints)")
		}
		return nil
	}
	if c.Witness.URL != "" {
		if err := anchor.CheckURL(c.Witness.URL); err != nil {
			return fmt.Errorf("audit.witness.url: %w", err)
		}
	}
	if c.CheckpointEvery < 0 {
		return fmt.Errorf("audit.checkpoint_every: must not be negative")
	}
	key, err := anchor.LoadPrivateKey(c.SigningKeyFile)
	if err != nil {
		return fmt.Errorf("audit.signing_key_file: %w", err)
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
	a.Go(func(ctx context.Context) { signCheckpoints(ctx, a.DB, every, log) })
	return nil
}

// signCheckpoints signs the newest record now and then every interval, when
// records were written since the last checkpoint.
func signCheckpoints(ctx context.Context, db *store.DB, every time.Duration, log *slog.Logger) {
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
