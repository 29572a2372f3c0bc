package anchor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadPrivateKey reads the checkpoint signing key at path. The file is
// either PEM, a PKCS#8 "PRIVATE KEY" block as `openssl genpkey -algorithm
// ed25519` writes it, or raw bytes: a 32-byte seed or a 64-byte ed25519
// private key (seed ‖ public key). Errors name the file, never its content.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if blk, _ := pem.Decode(raw); blk != nil {
		if blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("signing key %s: a PEM %q block, want \"PRIVATE KEY\" (PKCS#8 ed25519)", path, blk.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: not a PKCS#8 private key", path)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key %s: a %T, want an ed25519 key", path, k)
		}
		return ek, nil
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if string(k[ed25519.SeedSize:]) != string(raw[ed25519.SeedSize:]) {
			return nil, fmt.Errorf("signing key %s: the 64 bytes are not an ed25519 seed and its public key", path)
		}
		return k, nil
	}
	return nil, fmt.Errorf("signing key %s: want a PEM PKCS#8 ed25519 private key, or a raw 32-byte seed or 64-byte key (%d bytes)", path, len(raw))
}

// LoadPublicKey reads the checkpoint verifying key at path: PEM, a PKIX
// "PUBLIC KEY" block as `openssl pkey -pubout` writes it, or the raw
// 32-byte public key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if blk, _ := pem.Decode(raw); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public key %s: a PEM %q block, want \"PUBLIC KEY\"", path, blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key %s: a %T, want an ed25519 key", path, k)
		}
		return ek, nil
	}
	if len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	return nil, fmt.Errorf("public key %s: want a PEM PKIX ed25519 public key or the raw 32 bytes (%d bytes)", path, len(raw))
}

// GenerateKey writes a new key pair as PEM: the private key to privPath
// (mode 0600, never overwritten) and the public key to pubPath.
func GenerateKey(privPath, pubPath string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: p8}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), 0o644); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pub, nil
}
