// Package webui is the usage service's web pages: an admin console (admin
// key: every tenant's spend, revenue, margin, unpriced calls and alerts; a
// page per tenant) and a customer page (a tenant key, or a signed
// short-lived link the product embeds: the tenant's own usage, balances,
// grants and invoice preview in its prices, never our cost or margin, never
// another tenant).
//
// Everything is rendered on the server with html/template (so every value
// from a span — tenant, feature, model — is escaped), charts are SVG drawn
// on the server, the stylesheet is embedded: no script, no CDN, no build
// step. The Content-Security-Policy allows no script at all.
//
// Sign-in: POST /ui/login with an API key sets an HttpOnly, SameSite=Strict
// cookie (Secure when the request came over TLS) holding the key; every page
// authenticates it again, so a revoked key is out at its next request. Forms
// that change state carry a CSRF token bound to the key (HMAC).
package webui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
)

//go:embed assets
var assets embed.FS

// Options configures the pages.
type Options struct {
	// Title heads every page ("Usage" by default); LogoURL is an image shown
	// beside it (the embedded logo by default).
	Title   string
	LogoURL string
	// TraceURL links a call to its trace in the user's tracing UI; {trace_id}
	// is replaced by the call's trace id (hex). No link when empty.
	TraceURL string
	// LinkSecret signs customer links (random per process when empty: links
	// then end with the process). LinkTTL is how long a link is good for
	// (1 hour by default).
	LinkSecret []byte
	LinkTTL    time.Duration
	// FrameAncestors is the CSP frame-ancestors of the customer page (who may
	// embed it in an iframe); "*" by default. The admin pages are never framed.
	FrameAncestors string
	// Now is the clock (tests).
	Now func() time.Time
}

// Base is the path the pages are served under.
const Base = "/ui"

const cookieName = "genaimeter_session"

// UI serves the pages.
type UI struct {
	l    *balances.Ledger
	o    Options
	t    *template.Template
	mux  *http.ServeMux
	stat http.Handler
}

// New returns the pages over l.
func New(l *balances.Ledger, o Options) *UI {
	if o.Title == "" {
		o.Title = "Usage"
	}
	if o.LogoURL == "" {
		o.LogoURL = Base + "/static/logo.svg"
	}
	if len(o.LinkSecret) == 0 {
		o.LinkSecret = make([]byte, 32)
		_, _ = rand.Read(o.LinkSecret)
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = time.Hour
	}
	if o.FrameAncestors == "" {
		o.FrameAncestors = "*"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := template.Must(template.New("").Funcs(template.FuncMap{
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
	}).ParseFS(assets, "assets/pages.html"))
	static, _ := fs.Sub(assets, "assets")
	u := &UI{l: l, o: o, t: t, mux: http.NewServeMux(), stat: http.StripPrefix(Base+"/static/", http.FileServerFS(static))}
	u.mux.HandleFunc("GET "+Base+"/static/{file}", u.static)
	u.mux.HandleFunc("GET "+Base+"/{$}", u.home)
	u.mux.HandleFunc("GET "+Base, u.home)
	u.mux.HandleFunc("GET "+Base+"/login", u.loginPage)
	u.mux.HandleFunc("POST "+Base+"/login", u.login)
	u.mux.HandleFunc("POST "+Base+"/logout", u.logout)
	u.mux.HandleFunc("GET "+Base+"/admin", u.adminOnly(u.admin))
	u.mux.HandleFunc("GET "+Base+"/admin/tenants/{tenant}", u.adminOnly(u.tenant))
	u.mux.HandleFunc("POST "+Base+"/admin/tenants/{tenant}/grants", u.adminOnly(u.addGrant))
	u.mux.HandleFunc("GET "+Base+"/customer", u.customer)
	return u
}

// ServeHTTP serves the pages (paths under Base).
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	frame := "'none'"
	if r.URL.Path == Base+"/customer" || strings.HasPrefix(r.URL.Path, Base+"/static/") {
		frame = u.o.FrameAncestors
	} else {
		h.Set("X-Frame-Options", "DENY")
	}
	// No script at all; styles and images from here (images also from https
	// for a configured logo); forms post only here.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data: https:; "+
		"form-action 'self'; base-uri 'none'; frame-ancestors "+frame)
	u.mux.ServeHTTP(w, r)
}

func (u *UI) static(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	u.stat.ServeHTTP(w, r)
}

// who is the caller of a page.
type who struct {
	key     balances.Key
	session bool   // signed in with a key (cookie)
	link    string // tenant of a valid signed link
}

func (u *UI) session(r *http.Request) (balances.Key, bool, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return balances.Key{}, false, nil
	}
	k, err := u.l.Authenticate(r.Context(), c.Value)
	if errors.Is(err, balances.ErrBadKey) {
		return balances.Key{}, false, nil
	}
	return k, err == nil, err
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	k, ok, err := u.session(r)
	switch {
	case err != nil:
		u.fail(w, r, http.StatusInternalServerError, "Something went wrong", err.Error())
	case !ok:
		http.Redirect(w, r, Base+"/login", http.StatusSeeOther)
	case k.Admin():
		http.Redirect(w, r, Base+"/admin", http.StatusSeeOther)
	default:
		http.Redirect(w, r, Base+"/customer", http.StatusSeeOther)
	}
}

type page struct {
	Title, Base, Logo string
	Session           bool
	CSRF              string
	Error, Heading    string
}

func (u *UI) page(r *http.Request, k *balances.Key) page {
	p := page{Title: u.o.Title, Base: Base, Logo: u.o.LogoURL}
	if k != nil {
		p.Session = true
		p.CSRF = u.csrf(*k)
	}
	return p
}

func (u *UI) render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := u.t.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, code int, heading, msg string) {
	p := u.page(r, nil)
	p.Heading, p.Error = heading, msg
	u.render(w, code, "error", p)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, http.StatusOK, "login", u.page(r, nil))
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("key"))
	k, err := u.l.Authenticate(r.Context(), tok)
	if err != nil {
		p := u.page(r, nil)
		p.Error = "That key is unknown, revoked or mistyped."
		if !errors.Is(err, balances.ErrBadKey) {
			p.Error = err.Error()
		}
		u.render(w, http.StatusUnauthorized, "login", p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: Base, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	to := Base + "/customer"
	if k.Admin() {
		to = Base + "/admin"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	k, ok, _ := u.session(r)
	if ok && !u.csrfOK(k, r.PostFormValue("csrf")) {
		u.fail(w, r, http.StatusForbidden, "Forbidden", "missing or wrong CSRF token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Base, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Base+"/login", http.StatusSeeOther)
}

func (u *UI) adminOnly(h func(w http.ResponseWriter, r *http.Request, k balances.Key)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, ok, err := u.session(r)
		switch {
		case err != nil:
			u.fail(w, r, http.StatusInternalServerError, "Something went wrong", err.Error())
		case !ok:
			http.Redirect(w, r, Base+"/login", http.StatusSeeOther)
		case !k.Admin():
			u.fail(w, r, http.StatusForbidden, "Forbidden", "This page needs an admin key.")
		default:
			h(w, r, k)
		}
	}
}

func (u *UI) mac(parts ...string) string {
	m := hmac.New(sha256.New, u.o.LinkSecret)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(m.Sum(nil))
}

// csrf is the CSRF token of a signed-in key: bound to the key, so a token
// seen by one key is no use to another.
func (u *UI) csrf(k balances.Key) string { return u.mac("csrf", k.ID) }

func (u *UI) csrfOK(k balances.Key, tok string) bool {
	return hmac.Equal([]byte(tok), []byte(u.csrf(k)))
}

// CustomerLink is a signed link (path and query) to tenant's customer page,
// good until the time it returns.
func (u *UI) CustomerLink(tenant string) (string, time.Time) {
	exp := u.o.Now().Add(u.o.LinkTTL).UTC().Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	q := url.Values{"tenant": {tenant}, "exp": {e}, "sig": {u.mac("link", tenant, e)}}
	return Base + "/customer?" + q.Encode(), exp
}

// linkTenant checks a signed link: the tenant it is for, or an error.
func (u *UI) linkTenant(q url.Values) (string, error) {
	tenant, e, sig := q.Get("tenant"), q.Get("exp"), q.Get("sig")
	exp, err := strconv.ParseInt(e, 10, 64)
	// One of each: a second tenant= would not be the one signed.
	if err != nil || len(q["tenant"]) != 1 || len(q["exp"]) != 1 || len(q["sig"]) != 1 || !hmac.Equal([]byte(sig), []byte(u.mac("link", tenant, e))) {
		return "", errors.New("this link is not valid (altered, or signed by another server)")
	}
	if u.o.Now().Unix() >= exp {
		return "", errors.New("this link has expired: ask for a new one")
	}
	return tenant, nil
}

// ctx is the request's context (shortcut).
func ctx(r *http.Request) context.Context { return r.Context() }
