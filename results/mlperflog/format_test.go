package mlperflog

import (
	"math"
	"testing"
	"time"
)

// TestCppDefault compares with what `std::cout << v` prints (printf "%g").
func TestCppDefault(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{2499.98, "2499.98"},
		{27500 / 11.000091106, "2499.98"},
		{1519.09, "1519.09"},
		{1e6, "1e+06"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{123456, "123456"},
		{1234567, "1.23457e+06"},
		{27500, "27500"},
		{2500, "2500"},
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{0.99, "0.99"},
		{0.9, "0.9"},
		{0.999, "0.999"},
		{-2.5, "-2.5"},
		{359.1731, "359.173"},
		{52415.94, "52415.9"},
		{999999.5, "1e+06"},
		{999999.4, "999999"},
		{0.000123456789, "0.000123457"},
		{1.5e-300, "1.5e-300"},
		{6.02214076e23, "6.02214e+23"},
		{100000, "100000"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	} {
		if got := cppDefault(c.v); got != c.want {
			t.Errorf("cppDefault(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestFixed compares with LoadGen's DoubleToString (std::fixed).
func TestFixed(t *testing.T) {
	for _, c := range []struct {
		v    float64
		prec int
		want string
	}{
		{1519.09, 2, "1519.09"},
		{15195 / 10.00270951, 2, "1519.09"},
		{2726.8699, 2, "2726.87"},
		{1e6, 2, "1000000.00"},
		{0.5 * 100, 2, "50.00"},
		{0.999 * 100, 2, "99.90"},
		{0.9 * 100, 1, "90.0"},
		{0.99 * 100, 1, "99.0"},
		{0.125, 2, "0.12"}, // exact binary tie: round half to even, as glibc
		{0.375, 2, "0.38"},
		{math.Inf(1), 2, "inf"},
	} {
		if got := fixed(c.v, c.prec); got != c.want {
			t.Errorf("fixed(%v, %d) = %q, want %q", c.v, c.prec, got, c.want)
		}
	}
}

func TestTimeFormats(t *testing.T) {
	for _, c := range []struct {
		ns   int64
		want string
	}{
		{0, "0.000000"}, {1, "0.000001"}, {999_999, "0.999999"}, {1_000_000, "1.000000"},
		{11_000_164_090, "11000.164090"}, {-5, "0.000000"},
	} {
		if got := timeMs(c.ns); got != c.want {
			t.Errorf("timeMs(%d) = %q, want %q", c.ns, got, c.want)
		}
	}
	tm := time.Date(2024, 7, 20, 17, 54, 38, 800_999_999, time.FixedZone("x", 3600))
	if got := powerTime(tm); got != "07-20-2024 16:54:38.800" {
		t.Errorf("powerTime = %q", got)
	}
	if got := isoTime(tm); got != "2024-07-20T16:54:38Z" {
		t.Errorf("isoTime = %q", got)
	}
}
