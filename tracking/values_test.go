package tracking

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormatParam(t *testing.T) {
	type myInt int
	tests := []struct {
		in   any
		want string
	}{
		{1e-4, "0.0001"},
		{1e-5, "1e-05"},
		{0.1, "0.1"},
		{100.0, "100.0"},
		{1e16, "1e+16"},
		{123456789012345.6, "123456789012345.6"},
		{-2.5, "-2.5"},
		{float32(0.5), "0.5"},
		{math.NaN(), "nan"},
		{math.Inf(-1), "-inf"},
		{32, "32"},
		{int64(-7), "-7"},
		{uint8(255), "255"},
		{myInt(3), "3"},
		{true, "True"},
		{false, "False"},
		{"adam", "adam"},
		{nil, "None"},
		{time.Second, "1s"},
	}
	for _, tt := range tests {
		got, err := formatParam(tt.in)
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "formatParam(%#v)", tt.in)
	}
	_, err := formatParam([]int{1})
	require.ErrorContains(t, err, "unsupported parameter type []int")
}

func TestCheckTypes(t *testing.T) {
	tests := []struct {
		t    ValueType
		v    any
		want bool
	}{
		{TypeInt, 32, true},
		{TypeInt, 32.0, false},
		{TypeFloat, 32, true},
		{TypeFloat, 1e-4, true},
		{TypeFloat, "0.1", false},
		{TypeString, "adam", true},
		{TypeString, 1, false},
		{TypeBool, true, true},
		{TypeBool, 1, false},
		{TypeInt, nil, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, checkParamType(tt.t, tt.v), "%s %#v", tt.t, tt.v)
	}
	require.True(t, checkMetricType(TypeInt, 3))
	require.False(t, checkMetricType(TypeInt, 3.5))
	require.False(t, checkMetricType(TypeInt, math.Inf(1)))
	require.True(t, checkMetricType(TypeFloat, math.NaN()))
}

func TestUndeclaredPolicy(t *testing.T) {
	decl := []Declaration{{"loss", "float"}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		policy  UndeclaredPolicy
		decls   []Declaration
		wantErr bool
	}{
		{UndeclaredAllow, decl, false},
		{UndeclaredWarn, decl, false},
		{UndeclaredReject, decl, true},
		{UndeclaredReject, nil, false}, // nothing declared: everything goes
	} {
		d := newDeclarations("metric", tt.decls, tt.policy, quiet)
		_, err := d.lookup("acc")
		require.Equal(t, tt.wantErr, err != nil, "%s with %d declarations: %v", tt.policy, len(tt.decls), err)
		typ, err := d.lookup("loss")
		require.NoError(t, err)
		if tt.decls != nil {
			require.Equal(t, TypeFloat, typ)
		}
	}
}
