package cpu

import "math"

// matmul computes out = x·w + bias for the rows of x: x is rows×k, w is
// k×m row-major, out is rows×m. The loops run i-k-j: each input value
// scales one contiguous row of w into one contiguous row of out, so every
// access streams through memory; four rows of w are taken at a time so
// each output value is loaded and stored once per four products. A row's result does not depend on the
// other rows, so a batch gives bit-for-bit the results of single samples.
func matmul(out, x, w, bias []float32, k, m int) {
	rows := len(x) / k
	for i := range rows {
		o := out[i*m : (i+1)*m]
		copy(o, bias)
		row := x[i*k : (i+1)*k]
		kk := 0
		for ; kk+4 <= k; kk += 4 {
			axpy4(o, w[kk*m:(kk+4)*m], row[kk:kk+4:kk+4])
		}
		for ; kk < k; kk++ {
			axpy(o, w[kk*m:(kk+1)*m], row[kk])
		}
	}
}

// axpy4 adds a[0]·x₀ + … + a[3]·x₃ to y, where x holds the four rows
// x₀…x₃ of len(y) values each. Each y[j] stays in a register across the four
// products, which are added in order, so the result is bit-for-bit that of
// four axpy calls.
func axpy4(y, x []float32, a []float32) {
	m := len(y)
	x0, x1, x2, x3 := x[:m], x[m:2*m], x[2*m:3*m], x[3*m:4*m]
	a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
	for j := range y {
		t := y[j]
		t += a0 * x0[j]
		t += a1 * x1[j]
		t += a2 * x2[j]
		t += a3 * x3[j]
		y[j] = t
	}
}

// axpy adds a·x to y; x must be at least as long as y.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	i := 0
	for ; i+8 <= len(y); i += 8 {
		yy, xx := y[i:i+8:i+8], x[i:i+8:i+8]
		yy[0] += a * xx[0]
		yy[1] += a * xx[1]
		yy[2] += a * xx[2]
		yy[3] += a * xx[3]
		yy[4] += a * xx[4]
		yy[5] += a * xx[5]
		yy[6] += a * xx[6]
		yy[7] += a * xx[7]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

func relu(v []float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

// softmax replaces v by exp(v)/Σexp(v), computed stably in float64.
func softmax(v []float32) {
	hi := v[0]
	for _, x := range v[1:] {
		hi = max(hi, x)
	}
	sum := 0.0
	for i, x := range v {
		e := math.Exp(float64(x - hi))
		v[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}
