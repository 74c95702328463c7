// Package ring provides the growable FIFO ring buffer the backends queue
// samples in.
package ring

// minCap is the capacity of a ring's first buffer.
const minCap = 64

// Ring is a FIFO queue in one circular buffer that doubles when full, so a
// steady stream of pushes and pops allocates nothing once the buffer has
// reached its working size. A bulk push is two copies, however many
// elements it carries. The zero value is an empty ring. A Ring is not safe
// for concurrent use.
type Ring[T any] struct {
	buf  []T
	head int // index of the first element
	n    int // number of elements
}

// Len returns the number of queued elements.
func (r *Ring[T]) Len() int { return r.n }

// Push appends one element.
func (r *Ring[T]) Push(v T) {
	if r.n == len(r.buf) {
		r.grow(r.n + 1)
	}
	r.buf[r.wrap(r.head+r.n)] = v
	r.n++
}

// PushSlice appends copies of vs, in order.
func (r *Ring[T]) PushSlice(vs []T) {
	if len(vs) == 0 {
		return
	}
	if r.n+len(vs) > len(r.buf) {
		r.grow(r.n + len(vs))
	}
	tail := r.wrap(r.head + r.n)
	k := copy(r.buf[tail:], vs)
	copy(r.buf, vs[k:])
	r.n += len(vs)
}

// At returns the i-th element from the front; i must be below Len.
func (r *Ring[T]) At(i int) T { return r.buf[r.wrap(r.head+i)] }

// Front returns a pointer to the first element; the ring must not be empty.
// The pointer is valid until the next push or pop.
func (r *Ring[T]) Front() *T { return &r.buf[r.head] }

// Pop removes up to len(dst) elements from the front into dst and returns
// how many it moved.
func (r *Ring[T]) Pop(dst []T) int {
	k := min(len(dst), r.n)
	if k == 0 {
		return 0
	}
	c := copy(dst[:k], r.buf[r.head:])
	copy(dst[c:k], r.buf)
	r.Discard(k)
	return k
}

// Discard removes the first k elements; k must not exceed Len.
func (r *Ring[T]) Discard(k int) {
	// Clear the slots so a ring of pointers does not pin garbage.
	end := r.head + k
	clear(r.buf[r.head:min(end, len(r.buf))])
	if end > len(r.buf) {
		clear(r.buf[:end-len(r.buf)])
	}
	r.head = r.wrap(r.head + k)
	r.n -= k
	if r.n == 0 {
		r.head = 0
	}
}

// Reset empties the ring. A buffer larger than keep elements is released,
// so one huge burst does not hold its memory for the rest of the process.
func (r *Ring[T]) Reset(keep int) {
	if len(r.buf) > keep {
		r.buf = nil
	} else {
		clear(r.buf)
	}
	r.head, r.n = 0, 0
}

func (r *Ring[T]) wrap(i int) int {
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return i
}

// grow reallocates to hold at least need elements, unwrapping the contents
// to the start of the new buffer.
func (r *Ring[T]) grow(need int) {
	c := max(2*len(r.buf), minCap, need)
	buf := make([]T, c)
	k := copy(buf, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(buf[k:r.n], r.buf)
	r.buf, r.head = buf, 0
}
