//! ATA PASS-THROUGH(12/16) (SAT-3 12.2) to a canned, healthy ATA disk: what
//! `smartctl -d sat` needs to identify it and read its health. IDENTIFY DEVICE
//! and SMART READ DATA / READ THRESHOLDS return 512 bytes, SMART READ LOG the
//! log directory and empty error and self-test logs; SMART RETURN STATUS
//! returns the "healthy" signature in LBA mid/high; SMART ENABLE and friends
//! succeed; anything else is aborted as an ATA disk aborts it.
//!
//! Registers go back in the ATA Status Return descriptor (SAT-3 12.2.2.6) of
//! descriptor-format sense data, 22 bytes: whenever the command asked for them
//! (CK_COND) or failed. That is the sense data that does not fit in the 18
//! bytes a REQUEST SENSE of fixed-format sense asks for.

use crate::scsi::{Data, Response, Sense, Target};

pub const ATA_PASS_THROUGH_12: u8 = 0xa1;
pub const ATA_PASS_THROUGH_16: u8 = 0x85;

const IDENTIFY_DEVICE: u8 = 0xec;
const SMART: u8 = 0xb0;
const SMART_READ_DATA: u8 = 0xd0;
const SMART_READ_THRESHOLDS: u8 = 0xd1;
const SMART_AUTOSAVE: u8 = 0xd2;
const SMART_READ_LOG: u8 = 0xd5;
const SMART_ENABLE: u8 = 0xd8;
const SMART_DISABLE: u8 = 0xd9;
const SMART_RETURN_STATUS: u8 = 0xda;
/// LBA mid/high of every SMART command, and of a healthy RETURN STATUS.
const SMART_SIGNATURE: (u8, u8) = (0x4f, 0xc2);

/// ATA status: DRDY and DSC; with ERR for a failed command.
const STATUS_OK: u8 = 0x50;
const STATUS_ERR: u8 = 0x51;
/// ATA error register: command aborted.
const ERROR_ABRT: u8 = 0x04;

/// The ATA registers of a command (the 28-bit subset these commands use).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Regs {
    features: u8,
    count: u8,
    lba_low: u8,
    lba_mid: u8,
    lba_high: u8,
    device: u8,
    command: u8,
}

/// Whether `opcode` is ATA PASS-THROUGH.
pub fn is_ata_pass_through(opcode: u8) -> bool {
    opcode == ATA_PASS_THROUGH_12 || opcode == ATA_PASS_THROUGH_16
}

fn regs(c: &[u8; 16]) -> Regs {
    if c[0] == ATA_PASS_THROUGH_16 {
        Regs {
            features: c[4],
            count: c[6],
            lba_low: c[8],
            lba_mid: c[10],
            lba_high: c[12],
            device: c[13],
            command: c[14],
        }
    } else {
        Regs {
            features: c[3],
            count: c[4],
            lba_low: c[5],
            lba_mid: c[6],
            lba_high: c[7],
            device: c[8],
            command: c[9],
        }
    }
}

/// Descriptor-format sense with the ATA Status Return descriptor.
fn status_sense(key: u8, asc: u8, ascq: u8, error: u8, r: &Regs, status: u8) -> Sense {
    let mut s = vec![0x72, key, asc, ascq, 0, 0, 0, 14];
    s.extend_from_slice(&[
        0x09, 0x0c, 0, error, 0, r.count, 0, r.lba_low, 0, r.lba_mid, 0, r.lba_high, r.device,
        status,
    ]);
    Sense::Raw(s)
}

/// ATA string: two characters per word, high byte first, space padded.
fn put_string(words: &mut [u16], s: &str) {
    let mut b: Vec<u8> = s.bytes().take(words.len() * 2).collect();
    b.resize(words.len() * 2, b' ');
    for (w, pair) in words.iter_mut().zip(b.chunks(2)) {
        *w = u16::from(pair[0]) << 8 | u16::from(pair[1]);
    }
}

fn words_to_bytes(w: &[u16; 256]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// IDENTIFY DEVICE data (ACS-3 7.12.7) of an ATA-8 disk with 48-bit LBA and
/// SMART enabled, of the emulated disk's size.
fn identify(t: &Target) -> Vec<u8> {
    let cfg = &t.config;
    let sectors = t.disk.blocks() * u64::from(t.block_size()) / 512;
    let mut w = [0u16; 256];
    w[0] = 0x0040; // fixed device
    put_string(&mut w[10..20], &cfg.serial);
    put_string(&mut w[23..27], &cfg.revision);
    put_string(
        &mut w[27..47],
        &format!("{} {}", cfg.vendor.trim(), cfg.product.trim()),
    );
    w[49] = 0x0300; // LBA, DMA
    w[53] = 0x0006; // words 64-70 and 88 valid
    let lba28 = sectors.min(0x0fff_ffff) as u32;
    w[60] = lba28 as u16;
    w[61] = (lba28 >> 16) as u16;
    w[80] = 0x01f0; // ATA/ATAPI-4 to ATA8-ACS
    w[82] = 0x0001; // SMART supported
    w[83] = 0x4400; // valid, 48-bit LBA
    w[84] = 0x4000; // valid
    w[85] = 0x0001; // SMART enabled
    w[86] = 0x0400; // 48-bit LBA enabled
    w[87] = 0x4000; // valid
    for (i, x) in w[100..104].iter_mut().enumerate() {
        *x = (sectors >> (16 * i)) as u16;
    }
    w[106] = 0x4000; // valid, one logical sector per physical
    w[217] = 0x0001; // non-rotating
                     // Integrity word: signature A5h and a checksum making the bytes sum to 0.
    w[255] = 0x00a5;
    let sum = words_to_bytes(&w)
        .iter()
        .fold(0u8, |a, &b| a.wrapping_add(b));
    w[255] |= u16::from(0u8.wrapping_sub(sum)) << 8;
    words_to_bytes(&w)
}

/// A 512-byte SMART structure with its checksum in the last byte.
fn with_checksum(mut d: Vec<u8>) -> Vec<u8> {
    d.resize(512, 0);
    let sum = d[..511].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    d[511] = 0u8.wrapping_sub(sum);
    d
}

/// SMART attributes (id, flags, value, worst, raw) of a healthy disk.
const ATTRIBUTES: &[(u8, u16, u8, u8, u64)] = &[
    (0x01, 0x000b, 100, 100, 0),  // raw read error rate
    (0x05, 0x0033, 100, 100, 0),  // reallocated sectors
    (0x09, 0x0032, 99, 99, 1234), // power-on hours
    (0x0c, 0x0032, 99, 99, 42),   // power cycles
    (0xc2, 0x0022, 70, 60, 30),   // temperature
    (0xc5, 0x0012, 100, 100, 0),  // pending sectors
];
/// Thresholds of the attributes above.
const THRESHOLDS: &[(u8, u8)] = &[
    (0x01, 16),
    (0x05, 5),
    (0x09, 0),
    (0x0c, 0),
    (0xc2, 0),
    (0xc5, 0),
];

fn smart_data() -> Vec<u8> {
    let mut d = vec![0u8; 512];
    d[0] = 0x10; // revision
    for (i, &(id, flags, value, worst, raw)) in ATTRIBUTES.iter().enumerate() {
        let a = &mut d[2 + 12 * i..2 + 12 * (i + 1)];
        a[0] = id;
        a[1..3].copy_from_slice(&flags.to_le_bytes());
        a[3] = value;
        a[4] = worst;
        a[5..11].copy_from_slice(&raw.to_le_bytes()[..6]);
    }
    d[362] = 0x82; // off-line data collection completed, auto off-line on
    d[367] = 0x1b; // off-line, self-test; no selective self-test (log 09h)
    d[368] = 0x03; // saves SMART data, supports autosave
    d[370] = 0x01; // error logging supported
    d[372] = 2; // short self-test minutes
    d[373] = 30; // extended self-test minutes
    with_checksum(d)
}

/// SMART logs by address: the directory (version 1, one page each of the
/// summary error log and the self-test log), and those two, empty.
fn smart_log(address: u8) -> Option<Vec<u8>> {
    let mut d = vec![0u8; 512];
    match address {
        0x00 => {
            // Version 1, then a page count per log address (two bytes each).
            d[0] = 1;
            d[2] = 1; // 0x01
            d[12] = 1; // 0x06
            return Some(d);
        }
        0x01 => d[0] = 1,
        0x06 => d[0] = 1,
        _ => return None,
    }
    Some(with_checksum(d))
}

fn smart_thresholds() -> Vec<u8> {
    let mut d = vec![0u8; 512];
    d[0] = 0x10;
    for (i, &(id, thr)) in THRESHOLDS.iter().enumerate() {
        d[2 + 12 * i] = id;
        d[3 + 12 * i] = thr;
    }
    with_checksum(d)
}

/// Executes an ATA PASS-THROUGH command.
pub fn execute(t: &mut Target, c: &[u8; 16]) -> Response {
    let r = regs(c);
    let ck_cond = c[2] & 0x20 != 0;
    let abort = |t: &mut Target| {
        // ABORTED COMMAND with the registers: the ATA command was aborted.
        t.fail(status_sense(0x0b, 0x00, 0x00, ERROR_ABRT, &r, STATUS_ERR))
    };
    let smart = r.command == SMART && (r.lba_mid, r.lba_high) == SMART_SIGNATURE;
    let data = match (r.command, r.features) {
        (IDENTIFY_DEVICE, _) => identify(t),
        (SMART, SMART_READ_DATA) if smart => smart_data(),
        (SMART, SMART_READ_THRESHOLDS) if smart => smart_thresholds(),
        (SMART, SMART_READ_LOG) if smart && r.count == 1 => match smart_log(r.lba_low) {
            Some(d) => d,
            None => return abort(t),
        },
        (SMART, SMART_RETURN_STATUS | SMART_ENABLE | SMART_DISABLE | SMART_AUTOSAVE) if smart => {
            if !ck_cond {
                return Response {
                    status: crate::scsi::Status::Good,
                    data: Data::None,
                };
            }
            // RECOVERED ERROR, ATA PASS-THROUGH INFORMATION AVAILABLE: the
            // registers, LBA mid/high 4Fh/C2h for a healthy disk.
            return t.fail(status_sense(0x01, 0x00, 0x1d, 0, &r, STATUS_OK));
        }
        _ => return abort(t),
    };
    // The data-in commands: the transfer length must ask for 512 bytes
    // (T_DIR in, one block) or the bridge cannot deliver them.
    if c[2] & 0x08 == 0 {
        return abort(t);
    }
    Response {
        status: crate::scsi::Status::Good,
        data: Data::In(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::RamDisk;
    use crate::scsi::{Status, TargetConfig};

    fn target() -> Target {
        Target::new(
            TargetConfig {
                vendor: "UB".into(),
                product: "bot-device".into(),
                revision: "1.0".into(),
                serial: "UBSAT0".into(),
                removable: false,
                write_cache: false,
                write_protect: false,
                dpofua: false,
                bad_blocks: Vec::new(),
                capacity_plus_one: false,
            },
            RamDisk::new(2048, 512),
        )
    }

    fn ata16(command: u8, features: u8, ck_cond: bool, data_in: bool) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0] = ATA_PASS_THROUGH_16;
        c[1] = if data_in { 4 << 1 } else { 3 << 1 };
        c[2] = if ck_cond { 0x20 } else { 0 } | if data_in { 0x0e } else { 0 };
        c[4] = features;
        c[6] = 1;
        c[10] = 0x4f;
        c[12] = 0xc2;
        c[14] = command;
        c
    }

    #[test]
    fn identify_has_model_size_and_checksum() {
        let mut t = target();
        let r = execute(&mut t, &ata16(IDENTIFY_DEVICE, 0, false, true));
        let Data::In(d) = r.data else { panic!("{r:?}") };
        assert_eq!(d.len(), 512);
        assert_eq!(&d[54..64], b"BUb tod-ve"); // "UB bot-dev", bytes swapped per word
        assert_eq!(u32::from_le_bytes(d[120..124].try_into().unwrap()), 2048);
        assert_eq!(d[510], 0xa5);
        assert_eq!(d.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn smart_return_status_gives_healthy_registers_in_long_sense() {
        let mut t = target();
        let r = execute(&mut t, &ata16(SMART, SMART_RETURN_STATUS, true, false));
        assert_eq!(r.status, Status::CheckCondition);
        let s = t.pending_sense().unwrap().bytes();
        assert_eq!(s.len(), 22, "more than 18 bytes");
        assert_eq!(&s[..4], &[0x72, 0x01, 0x00, 0x1d]);
        assert_eq!((s[8], s[17], s[19]), (0x09, 0x4f, 0xc2));
        let r = execute(&mut t, &ata16(SMART, SMART_READ_DATA, false, true));
        let Data::In(d) = r.data else { panic!("{r:?}") };
        assert_eq!(d.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    }

    #[test]
    fn unknown_commands_are_aborted() {
        let mut t = target();
        let r = execute(&mut t, &ata16(0x25, 0, false, true));
        assert_eq!(r.status, Status::CheckCondition);
        let s = t.pending_sense().unwrap().bytes();
        assert_eq!((s[1], s[11], s[21]), (0x0b, ERROR_ABRT, STATUS_ERR));
        let mut c = ata16(SMART, SMART_READ_DATA, false, true);
        c[10] = 0;
        assert_eq!(
            execute(&mut t, &c).status,
            Status::CheckCondition,
            "no SMART signature"
        );
    }
}
