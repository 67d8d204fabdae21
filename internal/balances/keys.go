package balances

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// An API key is "gmk_<id>_<secret>". Only the SHA-256 of the secret is
// stored; a secret has 256 random bits, so a fast hash is enough (there is
// nothing to brute-force that a slow hash would protect).
const keyPrefix = "gmk_"

// Key is a stored API key (never its secret).
type Key struct {
	ID      string
	Tenant  string // "" for an admin key
	Note    string
	Created time.Time
	Revoked time.Time // zero: active
}

// Admin reports whether the key is an admin key.
func (k *Key) Admin() bool { return k.Tenant == "" }

// ErrBadKey is a key that is malformed, unknown, wrong or revoked. Callers
// answer all of them alike (401) so that a caller learns nothing about keys.
var ErrBadKey = errors.New("invalid API key")

// CreateKey stores a new key for tenant ("" for admin) and returns the token
// to hand to its user: it is shown once and cannot be recovered.
func (l *Ledger) CreateKey(ctx context.Context, tenant, note, actor string) (token string, k Key, err error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Key{}, err
	}
	k = Key{ID: NewID("")[:16], Tenant: tenant, Note: note, Created: time.Now().UTC()}
	sec := hex.EncodeToString(secret[:])
	var t any
	if tenant != "" {
		t = tenant
	}
	err = l.be.write(ctx, func(q querier) error {
		if err := q.exec(ctx, `INSERT INTO genaimeter_api_keys (key_id, secret_hash, tenant_id, note, created, revoked) VALUES ($1, $2, $3, $4, $5, 0)`,
			k.ID, hashSecret(sec), t, note, k.Created.UnixNano()); err != nil {
			return fmt.Errorf("balances: create key: %w", err)
		}
		return audit(ctx, q, actor, "key.create", tenant, k.ID, map[string]any{"admin": tenant == "", "note": note})
	})
	if err != nil {
		return "", Key{}, err
	}
	return keyPrefix + k.ID + "_" + sec, k, nil
}

// RevokeKey revokes a key at once: the next request with it fails.
func (l *Ledger) RevokeKey(ctx context.Context, id, actor string) error {
	return l.be.write(ctx, func(q querier) error {
		var tenant *string
		var revoked int64
		found := false
		if err := q.query(ctx, `SELECT tenant_id, revoked FROM genaimeter_api_keys WHERE key_id = $1`, []any{id}, func(scan func(...any) error) error {
			found = true
			return scan(&tenant, &revoked)
		}); err != nil {
			return fmt.Errorf("balances: revoke key: %w", err)
		}
		if !found {
			return ErrNotFound
		}
		if revoked != 0 {
			return nil
		}
		if err := q.exec(ctx, `UPDATE genaimeter_api_keys SET revoked = $1 WHERE key_id = $2`, time.Now().UnixNano(), id); err != nil {
			return fmt.Errorf("balances: revoke key: %w", err)
		}
		t := ""
		if tenant != nil {
			t = *tenant
		}
		return audit(ctx, q, actor, "key.revoke", t, id, map[string]any{})
	})
}

// Keys lists the stored keys.
func (l *Ledger) Keys(ctx context.Context) ([]Key, error) {
	var out []Key
	err := l.be.read().query(ctx, `SELECT key_id, COALESCE(tenant_id, ''), note, created, revoked FROM genaimeter_api_keys ORDER BY created, key_id`, nil,
		func(scan func(...any) error) error {
			var k Key
			var created, revoked int64
			if err := scan(&k.ID, &k.Tenant, &k.Note, &created, &revoked); err != nil {
				return err
			}
			k.Created = time.Unix(0, created).UTC()
			if revoked != 0 {
				k.Revoked = time.Unix(0, revoked).UTC()
			}
			out = append(out, k)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("balances: keys: %w", err)
	}
	return out, nil
}

// Authenticate returns the active key a token names, comparing the secret's
// hash in constant time; ErrBadKey for anything else.
func (l *Ledger) Authenticate(ctx context.Context, token string) (Key, error) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return Key{}, ErrBadKey
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
		return Key{}, ErrBadKey
	}
	var k Key
	var hash string
	var created, revoked int64
	found := false
	err := l.be.read().query(ctx, `SELECT key_id, COALESCE(tenant_id, ''), note, created, revoked, secret_hash FROM genaimeter_api_keys WHERE key_id = $1`, []any{id},
		func(scan func(...any) error) error {
			found = true
			return scan(&k.ID, &k.Tenant, &k.Note, &created, &revoked, &hash)
		})
	if err != nil {
		return Key{}, fmt.Errorf("balances: authenticate: %w", err)
	}
	if !found {
		// Compare anyway, so that an unknown id costs what a wrong secret does.
		hash = strings.Repeat("0", 64)
	}
	match := subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(hash)) == 1
	if !found || !match || revoked != 0 {
		return Key{}, ErrBadKey
	}
	k.Created = time.Unix(0, created).UTC()
	return k, nil
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
