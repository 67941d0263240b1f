//! The SCSI target behind the Bulk-Only transport: one logical unit, a direct
//! access block device on a sparse RAM disk. Commands are decoded into what the
//! device intends to do in the data phase ([`Data`]) and a status; the BOT layer
//! moves the data.

use crate::disk::RamDisk;

pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const START_STOP_UNIT: u8 = 0x1b;
    pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const VERIFY_10: u8 = 0x2f;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const MODE_SENSE_10: u8 = 0x5a;
    pub const READ_16: u8 = 0x88;
    pub const WRITE_16: u8 = 0x8a;
    pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    /// Service action of SERVICE ACTION IN(16) for READ CAPACITY(16).
    pub const SAI_READ_CAPACITY_16: u8 = 0x10;
}

/// Sense keys used here.
pub mod key {
    pub const NO_SENSE: u8 = 0x0;
    pub const RECOVERED_ERROR: u8 = 0x1;
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const UNIT_ATTENTION: u8 = 0x6;
    pub const DATA_PROTECT: u8 = 0x7;
    pub const ABORTED_COMMAND: u8 = 0xb;
}

/// Sense data held for the next REQUEST SENSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sense {
    /// Fixed format (response code 0x70); `info` sets VALID and INFORMATION.
    Fixed {
        key: u8,
        asc: u8,
        ascq: u8,
        info: Option<u32>,
    },
    /// Returned as is (faults: garbage or random sense).
    Raw(Vec<u8>),
}

impl Sense {
    pub const fn new(key: u8, asc: u8, ascq: u8) -> Sense {
        Sense::Fixed {
            key,
            asc,
            ascq,
            info: None,
        }
    }

    /// The 18-byte fixed-format sense data (or the raw bytes).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Sense::Fixed {
                key,
                asc,
                ascq,
                info,
            } => {
                let mut s = vec![0u8; 18];
                s[0] = 0x70 | if info.is_some() { 0x80 } else { 0 };
                s[2] = key & 0x0f;
                s[3..7].copy_from_slice(&info.unwrap_or(0).to_be_bytes());
                s[7] = 10;
                s[12] = *asc;
                s[13] = *ascq;
                s
            }
            Sense::Raw(b) => b.clone(),
        }
    }
}

pub const SENSE_INVALID_OPCODE: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x20, 0x00);
pub const SENSE_LBA_OUT_OF_RANGE: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x21, 0x00);
pub const SENSE_INVALID_FIELD: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x24, 0x00);
pub const SENSE_LUN_NOT_SUPPORTED: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x25, 0x00);
pub const SENSE_BECOMING_READY: Sense = Sense::new(key::NOT_READY, 0x04, 0x01);
/// NOT READY, LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED: the unit
/// waits for a START STOP UNIT.
pub const SENSE_NEEDS_START: Sense = Sense::new(key::NOT_READY, 0x04, 0x02);
pub const SENSE_MEDIUM_MAY_HAVE_CHANGED: Sense = Sense::new(key::UNIT_ATTENTION, 0x28, 0x00);
/// DATA PROTECT, WRITE PROTECTED: a write to a write-protected medium.
pub const SENSE_WRITE_PROTECTED: Sense = Sense::new(key::DATA_PROTECT, 0x27, 0x00);
pub const SENSE_ABORTED: Sense = Sense::new(key::ABORTED_COMMAND, 0x00, 0x00);
/// ABORTED COMMAND, DATA PHASE ERROR: set when a stall fault fails a command.
pub const SENSE_DATA_PHASE_ERROR: Sense = Sense::new(key::ABORTED_COMMAND, 0x4b, 0x00);

/// What the device intends to do in the data phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    None,
    /// Data-in of these bytes (already cut to the allocation length).
    In(Vec<u8>),
    /// Data-in of blocks from the disk.
    Read {
        lba: u64,
        blocks: u64,
    },
    /// Data-out of blocks to the disk.
    Write {
        lba: u64,
        blocks: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    CheckCondition,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub data: Data,
}

impl Response {
    fn good(data: Data) -> Response {
        Response {
            status: Status::Good,
            data,
        }
    }
}

/// Identity and settings of the logical unit.
#[derive(Clone, Debug)]
pub struct TargetConfig {
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub serial: String,
    pub removable: bool,
    pub write_cache: bool,
    /// The medium is write-protected: WP in the mode parameter header, writes
    /// fail with DATA PROTECT.
    pub write_protect: bool,
    /// DPOFUA in MODE SENSE: the device claims to honour FUA.
    pub dpofua: bool,
    /// Blocks that fail every READ and WRITE covering them with a MEDIUM
    /// ERROR naming them; the blocks before one still move.
    pub bad_blocks: Vec<u64>,
    /// READ CAPACITY reports one block more than the disk has (its block
    /// count as the last LBA); that block is out of range (ILLEGAL REQUEST
    /// 21/00), as for the devices of usb-storage's FIX_CAPACITY.
    pub capacity_plus_one: bool,
}

/// Decoded addressing of a command, for the log and the fault filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Addressing {
    pub lba: u64,
    pub blocks: u64,
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// The LBA and block count of READ/WRITE/VERIFY/SYNCHRONIZE CACHE commands.
pub fn addressing(cdb: &[u8]) -> Addressing {
    let mut c = [0u8; 16];
    let n = cdb.len().min(16);
    c[..n].copy_from_slice(&cdb[..n]);
    match c[0] {
        op::READ_10 | op::WRITE_10 | op::VERIFY_10 | op::SYNCHRONIZE_CACHE_10 => Addressing {
            lba: be(&c[2..6]),
            blocks: be(&c[7..9]),
        },
        op::READ_16 | op::WRITE_16 | op::SYNCHRONIZE_CACHE_16 => Addressing {
            lba: be(&c[2..10]),
            blocks: be(&c[10..14]),
        },
        _ => Addressing::default(),
    }
}

/// READ CAPACITY(10) data; a last LBA past 0xFFFFFFFE reads 0xFFFFFFFF (use
/// READ CAPACITY(16)).
pub fn read_capacity_10_data(last_lba: u64, block_len: u32) -> Vec<u8> {
    let lba = u32::try_from(last_lba).unwrap_or(u32::MAX);
    let mut d = lba.to_be_bytes().to_vec();
    d.extend_from_slice(&block_len.to_be_bytes());
    d
}

/// READ CAPACITY(16) parameter data (32 bytes, no protection, no thin
/// provisioning, one logical block per physical block), cut to `alloc`.
pub fn read_capacity_16_data(last_lba: u64, block_len: u32, alloc: usize) -> Vec<u8> {
    let mut d = vec![0u8; 32];
    d[..8].copy_from_slice(&last_lba.to_be_bytes());
    d[8..12].copy_from_slice(&block_len.to_be_bytes());
    d.truncate(alloc);
    d
}

fn padded(s: &str, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .bytes()
        .map(|b| if (0x20..0x7f).contains(&b) { b } else { b' ' })
        .take(len)
        .collect();
    v.resize(len, b' ');
    v
}

pub struct Target {
    pub config: TargetConfig,
    pub disk: RamDisk,
    sense: Option<Sense>,
}

impl Target {
    pub fn new(config: TargetConfig, disk: RamDisk) -> Target {
        Target {
            config,
            disk,
            sense: None,
        }
    }

    pub fn block_size(&self) -> u32 {
        self.disk.block_size()
    }

    /// The sense data the next REQUEST SENSE returns.
    #[cfg(test)]
    pub fn pending_sense(&self) -> Option<&Sense> {
        self.sense.as_ref()
    }

    /// Fails the command with CHECK CONDITION and this sense, without data.
    pub fn fail(&mut self, sense: Sense) -> Response {
        self.sense = Some(sense);
        Response {
            status: Status::CheckCondition,
            data: Data::None,
        }
    }

    /// Clears the sense a previous command left, as every command but REQUEST
    /// SENSE does when it starts.
    pub fn begin(&mut self, opcode: u8) {
        if opcode != op::REQUEST_SENSE {
            self.sense = None;
        }
    }

    /// Executes a command of LUN 0 (call [`Target::begin`] first).
    pub fn execute(&mut self, cdb: &[u8]) -> Response {
        let mut c = [0u8; 16];
        let n = cdb.len().min(16);
        c[..n].copy_from_slice(&cdb[..n]);
        let blocks = self.disk.blocks();
        let bs = self.disk.block_size();
        let last_lba = if self.config.capacity_plus_one {
            blocks
        } else {
            blocks - 1
        };
        match c[0] {
            op::TEST_UNIT_READY
            | op::START_STOP_UNIT
            | op::PREVENT_ALLOW_MEDIUM_REMOVAL
            | op::VERIFY_10 => Response::good(Data::None),
            op::SYNCHRONIZE_CACHE_10 | op::SYNCHRONIZE_CACHE_16 => {
                self.disk.flush();
                Response::good(Data::None)
            }
            op::REQUEST_SENSE => {
                let s = self.sense.take().unwrap_or(Sense::new(key::NO_SENSE, 0, 0));
                let mut d = s.bytes();
                d.truncate(c[4].into());
                Response::good(Data::In(d))
            }
            op::INQUIRY => self.inquiry(&c),
            op::READ_CAPACITY_10 => Response::good(Data::In(read_capacity_10_data(last_lba, bs))),
            op::SERVICE_ACTION_IN_16 if c[1] & 0x1f == op::SAI_READ_CAPACITY_16 => {
                let alloc = be(&c[10..14]) as usize;
                Response::good(Data::In(read_capacity_16_data(last_lba, bs, alloc)))
            }
            op::READ_10 | op::READ_16 | op::WRITE_10 | op::WRITE_16 => {
                let a = addressing(&c);
                if a.lba.checked_add(a.blocks).is_none_or(|end| end > blocks) {
                    return self.fail(SENSE_LBA_OUT_OF_RANGE);
                }
                let (lba, blocks) = (a.lba, a.blocks);
                let write = c[0] == op::WRITE_10 || c[0] == op::WRITE_16;
                if write && self.config.write_protect {
                    return self.fail(SENSE_WRITE_PROTECTED);
                }
                let bad = self
                    .config
                    .bad_blocks
                    .iter()
                    .copied()
                    .filter(|b| (lba..lba + blocks).contains(b))
                    .min();
                if let Some(bad) = bad {
                    // The blocks before the bad one move; the command fails there.
                    self.fail(Sense::Fixed {
                        key: key::MEDIUM_ERROR,
                        asc: if write { 0x0c } else { 0x11 },
                        ascq: 0,
                        info: u32::try_from(bad).ok(),
                    });
                    let good = bad - lba;
                    return Response {
                        status: Status::CheckCondition,
                        data: if write {
                            Data::Write { lba, blocks: good }
                        } else {
                            Data::Read { lba, blocks: good }
                        },
                    };
                }
                Response::good(if c[0] == op::READ_10 || c[0] == op::READ_16 {
                    Data::Read { lba, blocks }
                } else {
                    Data::Write { lba, blocks }
                })
            }
            op::MODE_SENSE_6 | op::MODE_SENSE_10 => self.mode_sense(&c),
            op::SERVICE_ACTION_IN_16 => self.fail(SENSE_INVALID_FIELD),
            o if crate::ata::is_ata_pass_through(o) => crate::ata::execute(self, &c),
            _ => self.fail(SENSE_INVALID_OPCODE),
        }
    }

    fn inquiry(&mut self, c: &[u8; 16]) -> Response {
        let alloc = be(&c[3..5]) as usize;
        let evpd = c[1] & 1 != 0;
        let mut d = match (evpd, c[2]) {
            (false, 0) => {
                let cfg = &self.config;
                let mut d = vec![
                    0x00,
                    if cfg.removable { 0x80 } else { 0 },
                    0x06, // SPC-4
                    0x02, // response data format
                    31,
                    0,
                    0,
                    0,
                ];
                d.extend(padded(&cfg.vendor, 8));
                d.extend(padded(&cfg.product, 16));
                d.extend(padded(&cfg.revision, 4));
                d
            }
            (true, 0x00) => vec![0, 0x00, 0, 2, 0x00, 0x80],
            (true, 0x80) => {
                let serial = padded(&self.config.serial, self.config.serial.len().min(252));
                let mut d = vec![0, 0x80, 0, serial.len() as u8];
                d.extend(serial);
                d
            }
            _ => return self.fail(SENSE_INVALID_FIELD),
        };
        d.truncate(alloc);
        Response::good(Data::In(d))
    }

    /// The caching mode page (SBC-3 6.4.5) for page control `pc`.
    fn caching_page(&self, pc: u8) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x08;
        p[1] = 18;
        // Changeable values: nothing can be changed.
        if pc != 1 && self.config.write_cache {
            p[2] = 0x04; // WCE
        }
        p
    }

    fn mode_sense(&mut self, c: &[u8; 16]) -> Response {
        let ten = c[0] == op::MODE_SENSE_10;
        let pc = c[2] >> 6;
        let page = c[2] & 0x3f;
        let subpage = c[3];
        let alloc = if ten { be(&c[7..9]) } else { u64::from(c[4]) } as usize;
        let pages = match (page, subpage) {
            (0x08, 0) => self.caching_page(pc),
            (0x3f, 0 | 0xff) => self.caching_page(pc),
            _ => return self.fail(SENSE_INVALID_FIELD),
        };
        // No block descriptors; WP is bit 7 of the device-specific byte,
        // DPOFUA bit 4.
        let wp = if self.config.write_protect { 0x80 } else { 0 }
            | if self.config.dpofua { 0x10 } else { 0 };
        let mut d = if ten {
            let len = (6 + pages.len()) as u16;
            let l = len.to_be_bytes();
            vec![l[0], l[1], 0, wp, 0, 0, 0, 0]
        } else {
            vec![(3 + pages.len()) as u8, 0, wp, 0]
        };
        d.extend(pages);
        d.truncate(alloc);
        Response::good(Data::In(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::scsi::{capacity, cdb, inquiry, mode, sense};

    fn target(blocks: u64, wc: bool) -> Target {
        Target::new(
            TargetConfig {
                vendor: "UBTEST".into(),
                product: "BOT FAULTS".into(),
                revision: "1.00".into(),
                serial: "UBFAULT0".into(),
                removable: false,
                write_cache: wc,
                write_protect: false,
                dpofua: false,
                bad_blocks: Vec::new(),
                capacity_plus_one: false,
            },
            RamDisk::new(blocks, 512),
        )
    }

    fn run(t: &mut Target, c: &[u8]) -> Response {
        t.begin(c[0]);
        t.execute(c)
    }

    fn data_in(r: Response) -> Vec<u8> {
        assert_eq!(r.status, Status::Good);
        match r.data {
            Data::In(d) => d,
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn inquiry_standard_and_vpd() {
        let mut t = target(1000, true);
        let d = data_in(run(&mut t, cdb::inquiry(None, 96).as_bytes()));
        assert_eq!(d.len(), 36);
        let inq = inquiry::Inquiry::parse(&d).unwrap();
        assert_eq!(inq.vendor().unwrap(), b"UBTEST");
        assert_eq!(inq.product().unwrap(), b"BOT FAULTS");
        assert!(inq.is_connected());
        let d = data_in(run(&mut t, cdb::inquiry(None, 5).as_bytes()));
        assert_eq!(d.len(), 5);
        let d = data_in(run(&mut t, cdb::inquiry(Some(0), 255).as_bytes()));
        assert_eq!(d, [0, 0, 0, 2, 0, 0x80]);
        let d = data_in(run(&mut t, cdb::inquiry(Some(0x80), 255).as_bytes()));
        assert_eq!(inquiry::parse_unit_serial(&d).unwrap(), b"UBFAULT0");
        let r = run(&mut t, cdb::inquiry(Some(0x83), 255).as_bytes());
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(t.pending_sense(), Some(&SENSE_INVALID_FIELD));
    }

    #[test]
    fn test_unit_ready_and_no_data_commands() {
        let mut t = target(1000, true);
        for c in [
            cdb::test_unit_ready(),
            cdb::synchronize_cache_10(0, 0, false),
            cdb::synchronize_cache_16(0, 0, false),
            cdb::start_stop_unit(true, false, false),
            cdb::prevent_allow_medium_removal(true),
        ] {
            assert_eq!(run(&mut t, c.as_bytes()), Response::good(Data::None));
        }
        let verify = [op::VERIFY_10, 0, 0, 0, 0, 1, 0, 0, 8, 0];
        assert_eq!(run(&mut t, &verify), Response::good(Data::None));
    }

    #[test]
    fn read_capacity_10_and_16() {
        let mut t = target(131072, true);
        let d = data_in(run(&mut t, cdb::read_capacity_10().as_bytes()));
        let c = capacity::ReadCapacity10::parse(&d)
            .unwrap()
            .capacity()
            .unwrap();
        assert_eq!((c.blocks, c.block_size), (131072, 512));
        let d = data_in(run(&mut t, cdb::read_capacity_16(32).as_bytes()));
        assert_eq!(d.len(), 32);
        let c = capacity::ReadCapacity16::parse(&d)
            .unwrap()
            .capacity()
            .unwrap();
        assert_eq!((c.blocks, c.block_size), (131072, 512));

        // 2^33 blocks: READ CAPACITY(10) says "ask (16)".
        let mut t = target(1 << 33, true);
        let d = data_in(run(&mut t, cdb::read_capacity_10().as_bytes()));
        assert_eq!(
            capacity::ReadCapacity10::parse(&d).unwrap().capacity(),
            Err(capacity::CapacityError::Needs16)
        );
        let d = data_in(run(&mut t, cdb::read_capacity_16(32).as_bytes()));
        let c = capacity::ReadCapacity16::parse(&d)
            .unwrap()
            .capacity()
            .unwrap();
        assert_eq!(c.blocks, 1 << 33);
        // Exactly 2^32 - 1 blocks still fits: last LBA 0xFFFFFFFE.
        let mut t = target(u64::from(u32::MAX), true);
        let d = data_in(run(&mut t, cdb::read_capacity_10().as_bytes()));
        assert_eq!(&d[..4], &[0xff, 0xff, 0xff, 0xfe]);
    }

    #[test]
    fn capacity_plus_one_reports_a_block_it_lacks() {
        let mut t = target(1000, true);
        t.config.capacity_plus_one = true;
        let d = data_in(run(&mut t, cdb::read_capacity_10().as_bytes()));
        let c = capacity::ReadCapacity10::parse(&d)
            .unwrap()
            .capacity()
            .unwrap();
        assert_eq!(c.blocks, 1001);
        let d = data_in(run(&mut t, cdb::read_capacity_16(32).as_bytes()));
        let c = capacity::ReadCapacity16::parse(&d)
            .unwrap()
            .capacity()
            .unwrap();
        assert_eq!(c.blocks, 1001);
        // Its own last block is out of range; the one before it reads.
        let r = run(&mut t, cdb::read_10(1000, 1).unwrap().as_bytes());
        assert_eq!(r.status, Status::CheckCondition);
        let d = data_in(run(&mut t, cdb::request_sense(18).as_bytes()));
        assert_eq!((d[2] & 0xf, d[12], d[13]), (5, 0x21, 0));
        assert_eq!(
            run(&mut t, cdb::read_10(999, 1).unwrap().as_bytes()).data,
            Data::Read {
                lba: 999,
                blocks: 1
            }
        );
    }

    #[test]
    fn read_write_ranges() {
        let mut t = target(1000, true);
        assert_eq!(
            run(&mut t, cdb::read_10(10, 8).unwrap().as_bytes()).data,
            Data::Read { lba: 10, blocks: 8 }
        );
        assert_eq!(
            run(&mut t, cdb::write_16(992, 8).unwrap().as_bytes()).data,
            Data::Write {
                lba: 992,
                blocks: 8
            }
        );
        let r = run(&mut t, cdb::read_16(993, 8).unwrap().as_bytes());
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(r.data, Data::None);
        // REQUEST SENSE reports it, once.
        let d = data_in(run(&mut t, cdb::request_sense(18).as_bytes()));
        let s = sense::Sense::parse(&d).unwrap();
        assert_eq!(
            (s.key, s.asc, s.ascq),
            (sense::SenseKey::IllegalRequest, 0x21, 0)
        );
        let d = data_in(run(&mut t, cdb::request_sense(18).as_bytes()));
        assert_eq!(d[2] & 0xf, 0);
        assert_eq!(d[12], 0);
        // An LBA whose end overflows u64.
        let mut c = cdb::read_16(0, 1).unwrap().as_bytes().to_vec();
        c[2..10].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(run(&mut t, &c).status, Status::CheckCondition);
    }

    #[test]
    fn unknown_opcode_is_illegal_request() {
        let mut t = target(1000, true);
        let r = run(&mut t, &[0x04, 0, 0, 0, 0, 0]); // FORMAT UNIT
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(t.pending_sense(), Some(&SENSE_INVALID_OPCODE));
        let d = data_in(run(&mut t, cdb::request_sense(252).as_bytes()));
        assert_eq!(d.len(), 18);
        assert_eq!((d[0], d[2], d[7], d[12], d[13]), (0x70, 5, 10, 0x20, 0));
        // Another command clears a sense nobody read.
        run(&mut t, &[0x04, 0, 0, 0, 0, 0]);
        run(&mut t, cdb::test_unit_ready().as_bytes());
        assert_eq!(t.pending_sense(), None);
    }

    #[test]
    fn mode_sense_caching_page() {
        for wc in [true, false] {
            let mut t = target(1000, wc);
            let c6 = cdb::mode_sense_6(false, cdb::PageControl::Current, 0x08, 0, 192).unwrap();
            let d = data_in(run(&mut t, c6.as_bytes()));
            let m = mode::ModeData::parse_6(&d).unwrap();
            assert!(!m.header.write_protected());
            assert_eq!(m.caching().unwrap().wce, wc);
            let c10 = cdb::mode_sense_10(false, cdb::PageControl::Current, 0x3f, 0, 512).unwrap();
            let d = data_in(run(&mut t, c10.as_bytes()));
            let m = mode::ModeData::parse_10(&d).unwrap();
            assert!(!m.header.write_protected());
            assert_eq!(m.caching().unwrap().wce, wc);
            // Header only when the allocation length is 4.
            let c6 = cdb::mode_sense_6(false, cdb::PageControl::Current, 0x3f, 0, 4).unwrap();
            let d = data_in(run(&mut t, c6.as_bytes()));
            assert_eq!(d, [23, 0, 0, 0]);
        }
        let mut t = target(1000, true);
        let c = cdb::mode_sense_6(false, cdb::PageControl::Current, 0x1c, 0, 192).unwrap();
        assert_eq!(run(&mut t, c.as_bytes()).status, Status::CheckCondition);
    }

    #[test]
    fn write_protected_medium() {
        let mut t = target(1000, false);
        t.config.write_protect = true;
        for c in [
            cdb::mode_sense_6(false, cdb::PageControl::Current, 0x3f, 0, 192).unwrap(),
            cdb::mode_sense_10(false, cdb::PageControl::Current, 0x3f, 0, 512).unwrap(),
        ] {
            let d = data_in(run(&mut t, c.as_bytes()));
            let m = if d.len() > 4 && c.opcode() == 0x5a {
                mode::ModeData::parse_10(&d).unwrap()
            } else {
                mode::ModeData::parse_6(&d).unwrap()
            };
            assert!(m.header.write_protected());
        }
        let w = cdb::write(0, 1).unwrap();
        let r = run(&mut t, w.as_bytes());
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(t.sense, Some(SENSE_WRITE_PROTECTED));
        let rd = cdb::read(0, 1).unwrap();
        assert_eq!(run(&mut t, rd.as_bytes()).status, Status::Good);
    }

    #[test]
    fn bad_block_moves_the_blocks_before_it() {
        let mut t = target(1000, false);
        t.config.bad_blocks = vec![500, 503];
        let r = run(&mut t, cdb::read(497, 16).unwrap().as_bytes());
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(
            r.data,
            Data::Read {
                lba: 497,
                blocks: 3
            }
        );
        let s = t.sense.clone().unwrap().bytes();
        assert_eq!(
            (s[0], s[2], s[12]),
            (0xf0, 0x03, 0x11),
            "VALID, MEDIUM ERROR, 11/00"
        );
        assert_eq!(&s[3..7], &500u32.to_be_bytes());
        let r = run(&mut t, cdb::write(501, 8).unwrap().as_bytes());
        assert_eq!(
            r.data,
            Data::Write {
                lba: 501,
                blocks: 2
            }
        );
        assert_eq!(t.sense.clone().unwrap().bytes()[12], 0x0c, "WRITE ERROR");
        assert_eq!(
            run(&mut t, cdb::read(0, 8).unwrap().as_bytes()).status,
            Status::Good
        );
    }

    #[test]
    fn capacity_helpers() {
        assert_eq!(read_capacity_10_data(0, 0), [0; 8]);
        assert_eq!(read_capacity_10_data(1 << 40, 512)[..4], [0xff; 4]);
        let d = read_capacity_16_data(u64::MAX, 512, 12);
        assert_eq!(
            d,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0]
        );
    }
}
