package monitor_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/taskstate/statebackend/examples/memorybackend"
	"github.com/taskstate/statebackend/monitor"
)

// The monitor mounted under /monitor/ of a server of your own, behind a
// bearer token.
func Example() {
	backend := memorybackend.NewStore().Open("shop") // or statebackend.Open(...)
	defer backend.Close()

	h, err := monitor.New(backend, monitor.Options{
		Title:    "Shop",
		AppID:    "shop",
		Database: "in memory", // a label, never a DSN
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/monitor/", http.StripPrefix("/monitor", monitor.Protect(h, monitor.Auth{Token: "s3cret"})))

	// What a request shows, without and with the token.
	for _, token := range []string{"", "s3cret"} {
		req := httptest.NewRequest(http.MethodGet, "/monitor/invocations?status=failed", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 401
	// 200
}
