package configerr

import (
	"errors"
	"testing"
)

func TestError(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"located with a hint", &Error{Source: "c.yaml:3", Key: "upstream.timeout", Problem: "60 is not a duration", Hint: "write 60s"},
			"c.yaml:3: upstream.timeout: 60 is not a duration; write 60s"},
		{"from a variable", &Error{Source: "environment variable DBAAS_PROXY_LISTEN", Key: "listen", Problem: `"x" is not HOST:PORT`},
			`environment variable DBAAS_PROXY_LISTEN: listen: "x" is not HOST:PORT`},
		{"not located yet", Newf("log.level", "%q is not a level", "loud"), `log.level: "loud" is not a level`},
		{"the whole document", &Error{Source: "c.yaml:1", Problem: "invalid YAML"}, "c.yaml:1: invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListAndJoin(t *testing.T) {
	a, b := Newf("a", "one"), Newf("b", "two")
	plain := errors.New("not a config error")
	got := List(errors.Join(a, errors.Join(b, plain)))
	if len(got) != 3 || got[0] != a || got[1] != b || got[2].Problem != plain.Error() || got[2].Key != "" {
		t.Fatalf("List = %+v, want a, b and the plain error kept", got)
	}
	if List(nil) != nil || Join(nil) != nil {
		t.Error("nil in, nil out")
	}
	var ce *Error
	if err := Join([]*Error{a, b}); !errors.As(err, &ce) || ce != a {
		t.Errorf("Join = %v: errors.As finds %v, want the first problem", err, ce)
	}
}
