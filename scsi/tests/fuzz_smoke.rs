//! Stable-toolchain stand-in for the cargo-fuzz target: runs the shared
//! harness body over a bounded, reproducible stream of pseudo-random inputs.
//!
//! `SCSI_FUZZ_ITERATIONS` sets the number of inputs (default 200000) and
//! `SCSI_FUZZ_SEED` the xorshift seed (default fixed); both are printed so a
//! failure can be replayed.

use scsi::fuzzing::fuzz_parsers;

/// xorshift64* generator: tiny, deterministic, good enough to spread inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fills `buf` with a shape the parsers care about: mostly random bytes, but
/// often with a plausible first byte or length field so inputs get past the
/// first checks.
fn make_input(rng: &mut XorShift, buf: &mut Vec<u8>) {
    const LENS: [usize; 9] = [0, 4, 5, 8, 12, 13, 18, 32, 36];
    buf.clear();
    let r = rng.next();
    let len = if r & 1 == 0 {
        LENS[(r >> 8) as usize % LENS.len()]
    } else {
        (r >> 8) as usize % 300
    };
    buf.extend((0..len).map(|_| rng.next() as u8));
    if let Some(first) = buf.first_mut() {
        match (r >> 40) % 4 {
            0 => *first = 0x70 | ((r >> 44) as u8 & 0x83),
            1 => *first = 0x72 | ((r >> 44) as u8 & 0x81),
            _ => {}
        }
    }
    if buf.len() == 13 && (r >> 50) & 1 == 0 {
        buf[..4].copy_from_slice(b"USBS");
        buf[12] %= 4;
    }
    if let Some(page) = buf.get_mut(1) {
        if (r >> 52).is_multiple_of(4) {
            *page = 0x80;
        }
    }
    // MODE SENSE(6) shape: consistent length, small block descriptor length.
    if buf.len() >= 4 && (r >> 54).is_multiple_of(4) {
        buf[0] = (buf.len() - 1).min(255) as u8;
        buf[3] = if (r >> 56) & 1 == 0 { 0 } else { 8 };
    }
    // READ CAPACITY shape: a supported block length where (10) and (16)
    // expect it, so the size checks past the block length get exercised.
    if (r >> 57).is_multiple_of(4) {
        let block_len = (512u32 << ((r >> 59) % 5)).to_be_bytes();
        if let Some(field) = buf.get_mut(4..8) {
            field.copy_from_slice(&block_len);
        }
        if let Some(field) = buf.get_mut(8..12) {
            field.copy_from_slice(&block_len);
        }
        // Keep a (16) LBA small enough that the size can fit in a u64.
        if (r >> 62) & 1 == 0 {
            if let Some(top) = buf.get_mut(..2) {
                top.fill(0);
            }
        }
    }
}

#[test]
fn fuzz_parsers_smoke() {
    let iterations = env_u64("SCSI_FUZZ_ITERATIONS", 200_000);
    let seed = env_u64("SCSI_FUZZ_SEED", 0x005E_ED0F_0B07_5C51) | 1;
    println!("fuzz_smoke: seed {seed:#x}, {iterations} iterations");
    let mut rng = XorShift(seed);
    let mut buf = Vec::with_capacity(300);
    for _ in 0..iterations {
        make_input(&mut rng, &mut buf);
        fuzz_parsers(&buf);
    }
    // Edge cases always run, whatever the seed.
    for len in 0..=64 {
        for fill in [0x00, 0xFF, 0x20, 0x70, 0x72] {
            fuzz_parsers(&vec![fill; len]);
        }
    }
}
