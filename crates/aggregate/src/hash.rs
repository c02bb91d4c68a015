//! A stable 64-bit hash: XXH64 (seed 0) over a value's canonical bytes.
//!
//! Sketch states are stored and merged across processes, machines and tiers, so
//! the hash must never change with the process, the platform or the Rust version:
//! `std`'s `RandomState`/`DefaultHasher` are deliberately not used. XXH64 is
//! specified byte-for-byte (little-endian reads), and the tests pin known vectors.

use crate::encoding::put_datum_canonical;
use tessera_value::Value;

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

/// XXH64 of `data` with `seed`.
pub(crate) fn xxh64(data: &[u8], seed: u64) -> u64 {
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        while let Some((stripe, tail)) = rest.split_first_chunk::<32>() {
            let lane = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&stripe[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            v1 = round(v1, lane(0));
            v2 = round(v2, lane(1));
            v3 = round(v3, lane(2));
            v4 = round(v4, lane(3));
            rest = tail;
        }
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge_round(h, v1);
        h = merge_round(h, v2);
        h = merge_round(h, v3);
        merge_round(h, v4)
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u64);
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        h ^= round(0, u64::from_le_bytes(*word));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = tail;
    }
    if let Some((word, tail)) = rest.split_first_chunk::<4>() {
        h ^= u64::from(u32::from_le_bytes(*word)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = tail;
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// The stable hash of a value: XXH64 of its canonical encoding, so `0.0` and
/// `-0.0` hash alike and `Int64(1)` differs from `Timestamp(1)`.
pub(crate) fn hash_datum(d: &Value, scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    put_datum_canonical(scratch, d);
    xxh64(scratch, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xFBCE_A83C_8A37_8BF1
        );
    }

    #[test]
    fn datum_hash_is_pinned() {
        // Pinned so that a change to the canonical encoding or the hash is noticed:
        // it would silently invalidate every stored HyperLogLog state.
        let mut s = Vec::new();
        let h = hash_datum(&Value::from("tessera"), &mut s);
        assert_eq!(h, 0x7b33_a353_5669_7483);
        assert_eq!(
            hash_datum(&Value::Float64(0.0), &mut s),
            hash_datum(&Value::Float64(-0.0), &mut s)
        );
        assert_ne!(
            hash_datum(&Value::Int64(1), &mut s),
            hash_datum(&Value::Timestamp(1), &mut s)
        );
    }
}
