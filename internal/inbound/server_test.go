package inbound

import (
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestLimitsAndConfigureServer(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want Limits
	}{
		{"defaults", Config{}, Limits{DefaultMaxHeaderBytes, DefaultReadHeaderTimeout, DefaultIdleTimeout, 30 * time.Second, 30 * time.Second, 1024, bodyRateWindow}},
		{"set", Config{MaxHeaderBytes: 1000, ReadHeaderTimeout: time.Second, IdleTimeout: time.Minute, BodyIdleTimeout: 5 * time.Second, WriteIdleTimeout: 7 * time.Second, MinBodyRate: 10},
			Limits{1000, time.Second, time.Minute, 5 * time.Second, 7 * time.Second, 10, bodyRateWindow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Limits(); got != tt.want {
				t.Errorf("Limits = %+v, want %+v", got, tt.want)
			}
			g, err := New(tt.cfg, Options{Listen: "127.0.0.1:20000", Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			var srv http.Server
			g.ConfigureServer(&srv)
			if srv.MaxHeaderBytes != tt.want.MaxHeaderBytes || srv.ReadHeaderTimeout != tt.want.ReadHeaderTimeout ||
				srv.IdleTimeout != tt.want.IdleTimeout || srv.TLSConfig != nil {
				t.Errorf("server = %d %v %v %v", srv.MaxHeaderBytes, srv.ReadHeaderTimeout, srv.IdleTimeout, srv.TLSConfig)
			}
		})
	}
}
