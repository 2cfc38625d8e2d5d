//! `memcmp` for the module, eight bytes at a time.
//!
//! Every `==` and ordering of byte strings compiles to a call of `memcmp`, which wasi-libc
//! implements one byte per iteration. The request path compares whole tokens (the token cache's
//! keys, 500 to 1,000 bytes), claim names in `BTreeMap` lookups, hosts and methods: in V8's
//! profile of a cached-token request, that byte loop was the largest single cost (10%). Defining
//! the symbol here keeps the linker from taking libc's.

/// The sign of the first difference between `a` and `b` (compared up to the shorter length), as
/// `memcmp` answers: negative, zero or positive.
pub fn compare(a: &[u8], b: &[u8]) -> i32 {
    let mut wa = a.chunks_exact(8);
    let mut wb = b.chunks_exact(8);
    for (x, y) in (&mut wa).zip(&mut wb) {
        // Big-endian words order as their bytes do.
        let (x, y) = (word(x), word(y));
        if x != y {
            return if x < y { -1 } else { 1 };
        }
    }
    for (x, y) in wa.remainder().iter().zip(wb.remainder()) {
        if x != y {
            return i32::from(*x) - i32::from(*y);
        }
    }
    0
}

#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    // `chunks_exact(8)` hands over 8 bytes: the fallback is never taken.
    u64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]))
}

/// # Safety
/// `memcmp`'s contract: `a` and `b` each point to `n` readable bytes.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    // SAFETY: the caller's contract above.
    let (a, b) = unsafe {
        (
            core::slice::from_raw_parts(a, n),
            core::slice::from_raw_parts(b, n),
        )
    };
    compare(a, b)
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering;

    fn sign(o: Ordering) -> i32 {
        o as i32
    }

    /// The same sign as the standard library's byte order, for every length up to 40, every
    /// position of a single difference, both directions, and bytes whose sign bit is set.
    #[test]
    fn orders_as_bytes_do() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for len in 0..40 {
            let a: Vec<u8> = (0..len).map(|_| next()).collect();
            assert_eq!(compare(&a, &a), 0);
            for at in 0..len {
                for delta in [1u8, 0x7f, 0x80, 0xff] {
                    let mut b = a.clone();
                    b[at] = b[at].wrapping_add(delta);
                    // A later difference must not change the answer.
                    if at + 1 < len {
                        b[len - 1] = b[len - 1].wrapping_sub(1);
                    }
                    let want = sign(a.cmp(&b));
                    assert_eq!(compare(&a, &b).signum(), want, "{a:?} {b:?}");
                    assert_eq!(compare(&b, &a).signum(), -want, "{b:?} {a:?}");
                }
            }
        }
    }
}
