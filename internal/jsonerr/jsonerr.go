// Package jsonerr writes the one error shape every local answer of dbaas-proxy uses:
// {"code": <status>, "message": "..."}, the same shape the DBaaS Manager uses for its own errors.
package jsonerr

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Body is the JSON error body.
type Body struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Write sends status with a JSON body carrying msg. msg must be written for a person and must
// never contain a secret or a Go error string with internals.
func Write(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(Body{Code: status, Message: msg}) // cannot fail: two plain fields
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
