//! MD5, tuned for the one job it has here: `--md5` and the implanted-MD5
//! check each hash the whole image, and MD5 is the slowest digest in the
//! pass (SHA-1/SHA-256 use the CPU's SHA extensions).
//!
//! Why not the `md-5` crate: `examples/hash_speed.rs` times both on one
//! buffer (`cargo run --release -p isotune-verify --example hash_speed`;
//! docs/BENCHMARKS.md quotes its result). The gain
//! comes from keeping the dependency chain of each step short: the message
//! word, the constant and the oldest state word are added off the critical
//! path, F is `((c ^ d) & b) ^ d`, and G is split into two independent
//! terms (`c & !d` does not depend on the newest word). The tests compare
//! it with `md-5` on many lengths and split points.
//!
//! Each step waits for the one before (add, rotate, add on the newest
//! word), so one stream leaves most of the core's ALUs idle.
//! [`Md5::update_pair`] hashes two streams over the same bytes in one loop,
//! their steps interleaved: `verify --md5 --implanted` gets its plain MD5
//! and checkisomd5's for about the CPU time of one (hash_speed prints the
//! ratio; docs/BENCHMARKS.md quotes it). Plain safe Rust, so every CPU
//! gets it; no SIMD lanes or runtime detection needed.

/// Round constants (RFC 1321, `floor(abs(sin(i + 1)) * 2^32)`).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

#[inline(always)]
fn f(a: u32, b: u32, c: u32, d: u32, m: u32, k: u32, s: u32) -> u32 {
    let t = a.wrapping_add(m).wrapping_add(k);
    t.wrapping_add(((c ^ d) & b) ^ d)
        .rotate_left(s)
        .wrapping_add(b)
}

#[inline(always)]
fn g(a: u32, b: u32, c: u32, d: u32, m: u32, k: u32, s: u32) -> u32 {
    let t = a.wrapping_add(m).wrapping_add(k).wrapping_add(c & !d);
    t.wrapping_add(b & d).rotate_left(s).wrapping_add(b)
}

#[inline(always)]
fn h(a: u32, b: u32, c: u32, d: u32, m: u32, k: u32, s: u32) -> u32 {
    let t = a.wrapping_add(m).wrapping_add(k);
    t.wrapping_add(b ^ c ^ d).rotate_left(s).wrapping_add(b)
}

#[inline(always)]
fn i(a: u32, b: u32, c: u32, d: u32, m: u32, k: u32, s: u32) -> u32 {
    let t = a.wrapping_add(m).wrapping_add(k);
    t.wrapping_add(c ^ (b | !d)).rotate_left(s).wrapping_add(b)
}

/// The 16 little-endian message words of a 64-byte block.
#[inline(always)]
fn words(block: &[u8]) -> [u32; 16] {
    let mut x = [0u32; 16];
    for (w, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    x
}

/// The 64 steps as 16 calls of `$four!(op, first step, message index of a
/// step, shifts)`; the caller's `$four` does four steps on its state(s).
macro_rules! rounds {
    ($four:ident) => {
        let r1 = |j: usize| j;
        let r2 = |j: usize| 5 * j + 1;
        let r3 = |j: usize| 3 * j + 5;
        let r4 = |j: usize| 7 * j;
        for j in (0..16).step_by(4) {
            $four!(f, j, r1, [7, 12, 17, 22]);
        }
        for j in (16..32).step_by(4) {
            $four!(g, j, r2, [5, 9, 14, 20]);
        }
        for j in (32..48).step_by(4) {
            $four!(h, j, r3, [4, 11, 16, 23]);
        }
        for j in (48..64).step_by(4) {
            $four!(i, j, r4, [6, 10, 15, 21]);
        }
    };
}

/// Adds the block's result to the chaining state.
#[inline(always)]
fn add_into(state: &mut [u32; 4], v: [u32; 4]) {
    for (s, v) in state.iter_mut().zip(v) {
        *s = s.wrapping_add(v);
    }
}

/// Runs the compression function over whole 64-byte blocks.
fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        let x = words(block);
        let [mut a, mut b, mut c, mut d] = *state;
        // Four steps per line; `$m(j)` is the message word of step `j`.
        macro_rules! four {
            ($op:ident, $j:expr, $m:expr, $s:expr) => {
                a = $op(a, b, c, d, x[$m($j) & 15], K[$j], $s[0]);
                d = $op(d, a, b, c, x[$m($j + 1) & 15], K[$j + 1], $s[1]);
                c = $op(c, d, a, b, x[$m($j + 2) & 15], K[$j + 2], $s[2]);
                b = $op(b, c, d, a, x[$m($j + 3) & 15], K[$j + 3], $s[3]);
            };
        }
        rounds!(four);
        add_into(state, [a, b, c, d]);
    }
}

/// Runs the compression function over whole 64-byte blocks for two states
/// at once: the same message, two independent dependency chains in one
/// loop. MD5 is bound by the latency of each step, so the second chain fills
/// ALU slots the first leaves idle and two streams cost much less than twice
/// one.
fn compress_pair(s1: &mut [u32; 4], s2: &mut [u32; 4], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        let x = words(block);
        let [mut a, mut b, mut c, mut d] = *s1;
        let [mut a2, mut b2, mut c2, mut d2] = *s2;
        // Each step of the first stream, then the same step of the second.
        macro_rules! four {
            ($op:ident, $j:expr, $m:expr, $s:expr) => {
                a = $op(a, b, c, d, x[$m($j) & 15], K[$j], $s[0]);
                a2 = $op(a2, b2, c2, d2, x[$m($j) & 15], K[$j], $s[0]);
                d = $op(d, a, b, c, x[$m($j + 1) & 15], K[$j + 1], $s[1]);
                d2 = $op(d2, a2, b2, c2, x[$m($j + 1) & 15], K[$j + 1], $s[1]);
                c = $op(c, d, a, b, x[$m($j + 2) & 15], K[$j + 2], $s[2]);
                c2 = $op(c2, d2, a2, b2, x[$m($j + 2) & 15], K[$j + 2], $s[2]);
                b = $op(b, c, d, a, x[$m($j + 3) & 15], K[$j + 3], $s[3]);
                b2 = $op(b2, c2, d2, a2, x[$m($j + 3) & 15], K[$j + 3], $s[3]);
            };
        }
        rounds!(four);
        add_into(s1, [a, b, c, d]);
        add_into(s2, [a2, b2, c2, d2]);
    }
}

/// A running MD5. Cloning it is cheap (88 bytes), which the fragment
/// checkpoints of the implanted-MD5 check rely on.
#[derive(Debug, Clone)]
pub struct Md5 {
    state: [u32; 4],
    /// Bytes of an incomplete block.
    pending: [u8; 64],
    pending_len: usize,
    /// Bytes hashed so far.
    len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5 {
    /// A fresh MD5.
    pub fn new() -> Self {
        Md5 {
            state: INIT,
            pending: [0; 64],
            pending_len: 0,
            len: 0,
        }
    }

    /// Hashes `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let n = (64 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + n].copy_from_slice(&data[..n]);
            self.pending_len += n;
            data = &data[n..];
            if self.pending_len < 64 {
                return;
            }
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        let whole = data.len() - data.len() % 64;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Hashes `data` into two MD5s that are at the same length (mod 64),
    /// as one [`update`](Self::update) each would, but with the whole blocks
    /// of `data` hashed for both in one interleaved loop. Their pending
    /// bytes may differ (the streams may have diverged before).
    pub fn update_pair(one: &mut Md5, two: &mut Md5, mut data: &[u8]) {
        if one.pending_len != two.pending_len {
            one.update(data);
            two.update(data);
            return;
        }
        if one.pending_len > 0 {
            let n = (64 - one.pending_len).min(data.len());
            one.update(&data[..n]);
            two.update(&data[..n]);
            data = &data[n..];
        }
        // Both are now block-aligned, or `data` is used up.
        let whole = data.len() - data.len() % 64;
        if whole > 0 {
            compress_pair(&mut one.state, &mut two.state, &data[..whole]);
            one.len = one.len.wrapping_add(whole as u64);
            two.len = two.len.wrapping_add(whole as u64);
        }
        one.update(&data[whole..]);
        two.update(&data[whole..]);
    }

    /// The digest.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut tail = [0u8; 128];
        tail[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        tail[self.pending_len] = 0x80;
        let end = if self.pending_len < 56 { 64 } else { 128 };
        tail[end - 8..end].copy_from_slice(&bits.to_le_bytes());
        compress(&mut self.state, &tail[..end]);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::md5::Digest;

    fn ours(data: &[u8]) -> [u8; 16] {
        let mut m = Md5::new();
        m.update(data);
        m.finalize()
    }

    #[test]
    fn rfc_1321_vectors() {
        let hex = |d: [u8; 16]| crate::algorithm::to_hex(&d);
        assert_eq!(hex(ours(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(ours(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(ours(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn equals_md5_crate_on_every_length_and_split() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in 0..data.len() {
            let want: [u8; 16] = ::md5::Md5::digest(&data[..len]).into();
            assert_eq!(ours(&data[..len]), want, "length {len}");
        }
        let want: [u8; 16] = ::md5::Md5::digest(&data).into();
        for split in [1, 3, 63, 64, 65, 127, 200] {
            let mut m = Md5::new();
            for piece in data.chunks(split) {
                m.update(piece);
            }
            let snapshot = m.clone();
            assert_eq!(m.finalize(), want, "pieces of {split}");
            assert_eq!(snapshot.finalize(), want);
        }
    }

    /// Two streams that share a prefix, then differ (in content, or in
    /// length so their pending blocks are misaligned), then get the same
    /// bytes through `update_pair`: each equals md-5 over its own bytes.
    #[test]
    fn update_pair_equals_two_single_updates() {
        let mut rng = isotune_testutil::Rng::new(15);
        let data = rng.bytes(5000);
        let lens = [
            0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 200, 300, 1000, 4999,
        ];
        for &shared in &[0usize, 1, 63, 64, 65, 100, 1000] {
            for &diverge in &[0usize, 1, 7, 64, 130] {
                for &skew in &[0usize, 1, 64] {
                    for &len in &lens {
                        let prefix_one = &data[..shared + diverge];
                        let mut other = data[..shared + diverge + skew].to_vec();
                        other[shared..].iter_mut().for_each(|b| *b ^= 0x5a);
                        let (mut one, mut two) = (Md5::new(), Md5::new());
                        one.update(prefix_one);
                        two.update(&other);
                        let common = &data[data.len() - len..];
                        // In two pieces, so pending bytes meet the pair path.
                        let cut = len / 3;
                        Md5::update_pair(&mut one, &mut two, &common[..cut]);
                        Md5::update_pair(&mut one, &mut two, &common[cut..]);
                        let want = |prefix: &[u8]| -> [u8; 16] {
                            let mut h = ::md5::Md5::new();
                            h.update(prefix);
                            h.update(common);
                            h.finalize().into()
                        };
                        let case =
                            format!("shared {shared} diverge {diverge} skew {skew} len {len}");
                        assert_eq!(one.finalize(), want(prefix_one), "{case}");
                        assert_eq!(two.finalize(), want(&other), "{case}");
                    }
                }
            }
        }
        // Large: many whole blocks, with odd-sized updates.
        let big = rng.bytes(3 << 20);
        let (mut one, mut two) = (Md5::new(), Md5::new());
        for piece in big.chunks(100_003) {
            Md5::update_pair(&mut one, &mut two, piece);
        }
        let want: [u8; 16] = ::md5::Md5::digest(&big).into();
        assert_eq!((one.finalize(), two.finalize()), (want, want));
    }
}
