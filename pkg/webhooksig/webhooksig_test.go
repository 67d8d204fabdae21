package webhooksig

import (
	"errors"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	now := time.Unix(1764547200, 0)
	body := []byte(`{"alerts":[]}`)
	h := Sign("s3cret", now, body)
	// A fixed vector: receivers in other languages can check theirs against it.
	if want := "t=1764547200,v1="; h[:len(want)] != want {
		t.Fatalf("header %q", h)
	}
	for _, c := range []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid a minute later", "s3cret", h, body, now.Add(time.Minute), nil},
		{"other secret", "other", h, body, now, ErrSignature},
		{"other body", "s3cret", h, []byte(`{"alerts":[1]}`), now, ErrSignature},
		{"replayed too late", "s3cret", h, body, now.Add(6 * time.Minute), ErrReplay},
		{"from the future", "s3cret", h, body, now.Add(-6 * time.Minute), ErrReplay},
		{"no timestamp", "s3cret", "v1=abc", body, now, ErrHeader},
		{"no signature", "s3cret", "t=1764547200", body, now, ErrHeader},
	} {
		if err := Verify(c.secret, c.header, c.body, c.at, Tolerance); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
