package monitor

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
)

// Auth is what Protect accepts: a bearer token, a user name and
// password, or both.
type Auth struct {
	// Token, when set, is accepted as "Authorization: Bearer <Token>",
	// and as the password of HTTP basic authentication with any user
	// name, which is what a browser can send (it asks for it when a page
	// answers 401).
	Token string
	// Username and Password, when Password is set, are accepted as HTTP
	// basic authentication.
	Username, Password string
	// Realm names the protected area in the browser's prompt; default
	// "monitor".
	Realm string
}

// Protect returns h behind auth: a request without credentials that
// match auth is answered 401, with a WWW-Authenticate header that makes
// a browser ask for a user name and password. Credentials are compared
// in constant time. An Auth with neither a Token nor a Password accepts
// no request: Protect fails closed.
//
// Protect does not encrypt: credentials sent over plain HTTP can be
// read on the way. Serve the monitor over TLS, or on loopback, when the
// network is not trusted.
func Protect(h http.Handler, auth Auth) http.Handler {
	realm := auth.Realm
	if realm == "" {
		realm = "monitor"
	}
	challenge := "Basic realm=" + strconv.Quote(realm) + `, charset="UTF-8"`
	token := digest(auth.Token)
	user, pass := digest(auth.Username), digest(auth.Password)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed(r, auth, token, user, pass) {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		setSecurityHeaders(hd)
		hd.Set("WWW-Authenticate", challenge)
		hd.Add("WWW-Authenticate", `Bearer realm=`+strconv.Quote(realm))
		hd.Set("Cache-Control", "no-store")
		http.Error(w, "401 unauthorized: this monitor requires credentials", http.StatusUnauthorized)
	})
}

// allowed reports whether r carries credentials auth accepts. Every
// comparison is of SHA-256 digests, in constant time, so that neither
// the content nor the length of a secret shows in the time it takes.
func allowed(r *http.Request, auth Auth, token, user, pass [sha256.Size]byte) bool {
	header := r.Header.Get("Authorization")
	if scheme, cred, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return auth.Token != "" && equal(digest(strings.TrimSpace(cred)), token)
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	du, dp := digest(u), digest(p)
	// Every comparison is made, whatever the first ones found.
	tokenOK, userOK, passOK := equal(dp, token), equal(du, user), equal(dp, pass)
	return auth.Token != "" && tokenOK || auth.Password != "" && userOK && passOK
}

func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func equal(a, b [sha256.Size]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }
