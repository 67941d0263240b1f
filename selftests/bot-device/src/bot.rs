//! The Bulk-Only Transport state machine (BOT 1.0): read a CBW, run the SCSI
//! command, move the data phase as the thirteen cases of BOT 6.7 require, send
//! the CSW; and the faults that bend each of those steps. The bulk endpoints are
//! behind [`BulkIo`], so the whole engine runs in unit tests against a scripted
//! host.

use crate::fault::{Applied, CmdInfo, Dir, FaultTable, Mode, BAD_SIGNATURE, OUT_PACKET};
use crate::log::Logger;
use crate::scsi::{self, Data, Sense, Status, Target};
use std::sync::{Arc, Mutex};

/// dCBWSignature "USBC".
pub const CBW_SIGNATURE: u32 = 0x4342_5355;
/// dCSWSignature "USBS".
pub const CSW_SIGNATURE: u32 = 0x5342_5355;
pub const CBW_LEN: usize = 31;
pub const CSW_LEN: usize = 13;
/// Largest single bulk request (a multiple of every block size and maxpacket).
pub const CHUNK: usize = 128 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ep {
    In,
    Out,
}

/// Why the engine stopped serving the current command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abort {
    /// The host reset the device (Bulk-Only reset, port reset, disconnect or
    /// new configuration): start over with the next CBW.
    Reset,
    /// The device disconnected itself (a disconnect fault). Only test doubles
    /// return it: the runtime exits instead.
    #[cfg_attr(not(test), allow(dead_code))]
    Disconnected,
    /// An endpoint operation failed for another reason.
    Error(String),
}

/// Outcome of waiting for a CBW.
pub enum CbwWait {
    /// What the host sent (up to one maxpacket).
    Packet(Vec<u8>),
    /// A silent-cbw fault is due: the CBW is not read. The lines are to log.
    Silent(Vec<String>),
}

/// The bulk endpoints. Every call blocks until the host completes the transfer
/// or resets the device ([`Abort::Reset`]).
pub trait BulkIo {
    /// Waits for a CBW on bulk-out, unless `silent` (asked right before the read
    /// is queued, and again if the wait is interrupted) says a silent-cbw fault
    /// is due.
    fn read_cbw(
        &mut self,
        silent: &mut dyn FnMut() -> Option<Vec<String>>,
    ) -> Result<CbwWait, Abort>;
    /// Reads at most `len` bytes of data from bulk-out; fewer when the host
    /// ends its transfer with a short packet.
    fn read_out(&mut self, len: usize) -> Result<Vec<u8>, Abort>;
    /// Sends data on bulk-in; `zero` ends it with a zero-length packet when its
    /// length is a multiple of maxpacket.
    fn write_in(&mut self, data: &[u8], zero: bool) -> Result<(), Abort>;
    /// Halts (or wedges: the host cannot clear it before a Bulk-Only reset)
    /// an endpoint.
    fn halt(&mut self, ep: Ep, wedge: bool) -> Result<(), Abort>;
    /// Waits for the host to reset the device; returns the abort to propagate.
    fn park(&mut self) -> Abort;
    /// Disconnects the device from the bus; the process exits (a test double
    /// returns [`Abort::Disconnected`]).
    fn disconnect(&mut self, reason: &str) -> Abort;
    /// bEndpointAddress of an endpoint, for the log.
    fn address(&self, ep: Ep) -> u8;
}

/// A CBW that passed the validity and meaningfulness checks (BOT 6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cbw {
    pub tag: u32,
    pub len: u32,
    pub dir: Dir,
    pub lun: u8,
    pub cdb: Vec<u8>,
}

impl Cbw {
    pub fn parse(raw: &[u8]) -> Result<Cbw, String> {
        if raw.len() != CBW_LEN {
            return Err(format!("length {}", raw.len()));
        }
        let word = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let sig = word(0);
        if sig != CBW_SIGNATURE {
            return Err(format!("signature 0x{sig:08x}"));
        }
        let (flags, lun, cb_len) = (raw[12], raw[13], raw[14]);
        if flags & 0x7f != 0 || lun & 0xf0 != 0 {
            return Err(format!(
                "reserved bits set (flags 0x{flags:02x} lun 0x{lun:02x})"
            ));
        }
        if !(1..=16).contains(&cb_len) {
            return Err(format!("bCBWCBLength {cb_len}"));
        }
        let len = word(8);
        let dir = match (len, flags & 0x80 != 0) {
            (0, _) => Dir::None,
            (_, true) => Dir::In,
            (_, false) => Dir::Out,
        };
        Ok(Cbw {
            tag: word(4),
            len,
            dir,
            lun,
            cdb: raw[15..15 + usize::from(cb_len)].to_vec(),
        })
    }
}

pub fn csw_bytes(signature: u32, tag: u32, residue: u32, status: u8) -> [u8; CSW_LEN] {
    let mut c = [0u8; CSW_LEN];
    c[0..4].copy_from_slice(&signature.to_le_bytes());
    c[4..8].copy_from_slice(&tag.to_le_bytes());
    c[8..12].copy_from_slice(&residue.to_le_bytes());
    c[12] = status;
    c
}

/// What the device intends to move in the data phase (BOT 6.7: Dn, Di, Do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intent {
    None,
    In(u64),
    Out(u64),
}

/// How long `early-answer` waits, after its early CSW, before it reads the CBW.
const EARLY_CBW_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// The command `early-answer` answered before its CBW was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Prediction {
    /// The number its CBW will get.
    seq: u64,
    tag: u32,
    len: u32,
    /// The whole answer (data and CSW) was written.
    sent: bool,
}

impl Prediction {
    /// Whether CBW number `seq` is the predicted command: a data-in READ of
    /// the predicted length and tag (its LBA is not checked).
    fn matches(&self, seq: u64, cbw: &Cbw) -> bool {
        self.sent
            && self.seq == seq
            && cbw.tag == self.tag
            && cbw.len == self.len
            && cbw.dir == Dir::In
            && matches!(cbw.cdb[0], scsi::op::READ_10 | scsi::op::READ_16)
    }
}

pub struct Engine {
    pub target: Target,
    pub faults: Arc<Mutex<FaultTable>>,
    pub log: Arc<Logger>,
    seq: u64,
    /// What `early-answer` sent ahead for the next CBW.
    early: Option<Prediction>,
    /// Status and residue of the last CSW sent for the current command.
    last_csw: Option<(u8, u32)>,
    /// CBWs must come as 32 bytes, the last one zero (as devices with
    /// usb-storage's BULK32 flag take them); a 31-byte CBW is invalid.
    pub cbw32: bool,
    /// The disk has a volatile cache that a suspend loses (for the log).
    pub volatile_cache: bool,
}

impl Engine {
    pub fn new(target: Target, faults: Arc<Mutex<FaultTable>>, log: Arc<Logger>) -> Engine {
        Engine {
            target,
            faults,
            log,
            seq: 0,
            early: None,
            last_csw: None,
            cbw32: false,
            volatile_cache: false,
        }
    }

    /// The host reset the device (the runtime calls this at every new
    /// generation): an early answer, sent or not, no longer stands for the
    /// next CBW.
    pub fn host_reset(&mut self) {
        if let Some(p) = self.early.take() {
            self.log.line(&format!("early {} discarded", p.seq));
        }
    }

    fn park(&mut self, io: &mut dyn BulkIo) -> Abort {
        self.log.line(&format!("wait {} host-reset", self.seq));
        io.park()
    }

    fn halt(&mut self, io: &mut dyn BulkIo, ep: Ep, wedge: bool) -> Result<(), Abort> {
        io.halt(ep, wedge)?;
        self.log.line(&format!(
            "halt {} ep=0x{:02x}{}",
            self.seq,
            io.address(ep),
            if wedge { " wedge" } else { "" }
        ));
        Ok(())
    }

    /// Serves one command, from waiting for its CBW to sending its CSW.
    pub fn serve(&mut self, io: &mut dyn BulkIo) -> Result<(), Abort> {
        let faults = self.faults.clone();
        let mut silent = || {
            faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take_silent_cbw()
        };
        let raw = match io.read_cbw(&mut silent)? {
            CbwWait::Packet(raw) => raw,
            CbwWait::Silent(lines) => {
                self.seq += 1;
                self.log.line(&format!(
                    "cmd {} tag=none op=none lba=0 blocks=0 len=0 dir=none fault=silent-cbw",
                    self.seq
                ));
                for l in lines {
                    self.log.line(&l);
                }
                return Err(self.park(io));
            }
        };
        // The first command after a suspend that cut the power: the volatile
        // cache is gone.
        if crate::disk::POWER_LOST.swap(false, std::sync::atomic::Ordering::AcqRel) {
            let lost = self.target.disk.lose_cache();
            if self.volatile_cache {
                self.log.line(&format!("event cache-lost chunks={lost}"));
            }
        }
        let parsed = if !self.cbw32 {
            Cbw::parse(&raw)
        } else if raw.len() == CBW_LEN + 1 && raw[CBW_LEN] == 0 {
            Cbw::parse(&raw[..CBW_LEN])
        } else {
            Err(format!(
                "length {} (this device takes 32-byte CBWs)",
                raw.len()
            ))
        };
        let cbw = match parsed {
            Ok(cbw) => cbw,
            Err(why) => {
                // BOT 6.6.1: stall both pipes until a Reset Recovery.
                self.log
                    .line(&format!("error invalid CBW after cmd {}: {why}", self.seq));
                self.halt(io, Ep::In, true)?;
                self.halt(io, Ep::Out, true)?;
                return Err(self.park(io));
            }
        };
        self.seq += 1;
        self.last_csw = None;
        let early = self.early.take().map(|p| p.matches(self.seq, &cbw));
        if early == Some(true) {
            // Answered before its CBW was read: not run again, and no fault
            // (nor random mode, nor a skip) sees it.
            self.log_cmd(&cbw, "none");
            self.log.line(&format!("early {} matched", self.seq));
            return Ok(());
        }
        let info = CmdInfo {
            seq: self.seq,
            opcode: cbw.cdb[0],
            byte1: cbw.cdb.get(1).copied().unwrap_or(0),
            byte4: cbw.cdb.get(4).copied().unwrap_or(0),
            len: cbw.len,
            dir: cbw.dir,
        };
        let decision = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .decide(&info);
        let mode = decision.applied.as_ref().map(|a| a.mode);
        self.log_cmd(&cbw, mode.map_or("none", Mode::name));
        if early == Some(false) {
            self.log.line(&format!("early {} mismatch", self.seq));
        }
        for l in &decision.log {
            self.log.line(l);
        }
        self.execute(io, &cbw, decision.applied)?;
        if mode == Some(Mode::EarlyAnswer) {
            self.pre_answer(io, &cbw)?;
        }
        Ok(())
    }

    fn log_cmd(&self, cbw: &Cbw, fault: &str) {
        let a = scsi::addressing(&cbw.cdb);
        self.log.line(&format!(
            "cmd {} tag=0x{:08x} op=0x{:02x} lba={} blocks={} len={} dir={} fault={fault}",
            self.seq,
            cbw.tag,
            cbw.cdb[0],
            a.lba,
            a.blocks,
            cbw.len,
            cbw.dir.name(),
        ));
    }

    /// `early-answer`, after READ `cbw` was served: before the next CBW is
    /// read, answers the READ the host is assumed to send next (same length,
    /// the following blocks, the next tag) with its data and a good CSW. Only
    /// after a clean READ (status 0, residue 0) whose successor lies within
    /// the disk. The writes block until the host reads the data, or until a
    /// host reset abandons them like any other transfer.
    fn pre_answer(&mut self, io: &mut dyn BulkIo, cbw: &Cbw) -> Result<(), Abort> {
        let seq = self.seq + 1;
        let a = scsi::addressing(&cbw.cdb);
        let lba = a.lba.saturating_add(a.blocks);
        let why = if self.last_csw != Some((0, 0)) {
            Some("status")
        } else if lba
            .checked_add(a.blocks)
            .is_none_or(|end| end > self.target.disk.blocks())
        {
            Some("range")
        } else {
            None
        };
        if let Some(why) = why {
            self.log.line(&format!("early {seq} skipped reason={why}"));
            return Ok(());
        }
        let tag = cbw.tag.wrapping_add(1);
        let len = u64::from(cbw.len);
        self.log.line(&format!(
            "early {seq} tag=0x{tag:08x} lba={lba} blocks={} len={len}",
            a.blocks
        ));
        // Recorded before the writes: a reset that interrupts them discards it.
        self.early = Some(Prediction {
            seq,
            tag,
            len: cbw.len,
            sent: false,
        });
        let data = Data::Read {
            lba,
            blocks: a.blocks,
        };
        self.send_in(io, &data, len, len)?;
        io.write_in(&csw_bytes(CSW_SIGNATURE, tag, 0, 0), false)?;
        if let Some(p) = &mut self.early {
            p.sent = true;
        }
        self.log.line(&format!("early {seq} sent bytes={len}"));
        // Hold the CBW back a while: a host that queued the data and the CSW
        // read behind its CBW sees both complete with the CBW still pending,
        // long enough for it to act on that (a driver that takes the command as
        // done would reuse the CBW transfer while it is in flight).
        std::thread::sleep(EARLY_CBW_DELAY);
        Ok(())
    }

    /// The response with the SCSI-level fault in place of the command.
    fn respond(&mut self, cbw: &Cbw, a: Option<&Applied>) -> scsi::Response {
        let t = &mut self.target;
        t.begin(cbw.cdb[0]);
        if cbw.lun != 0 {
            return t.fail(scsi::SENSE_LUN_NOT_SUPPORTED);
        }
        let Some(a) = a else {
            return t.execute(&cbw.cdb);
        };
        match a.mode {
            Mode::NotReady => t.fail(scsi::SENSE_BECOMING_READY),
            Mode::UnitAttention => t.fail(scsi::SENSE_MEDIUM_MAY_HAVE_CHANGED),
            Mode::Aborted => t.fail(scsi::SENSE_ABORTED),
            Mode::NotReadyUntilStart => t.fail(scsi::SENSE_NEEDS_START),
            Mode::MediumError | Mode::RecoveredError => {
                let lba = scsi::addressing(&cbw.cdb).lba;
                let (key, asc, ascq) = if a.mode == Mode::MediumError {
                    (scsi::key::MEDIUM_ERROR, 0x11, 0x00)
                } else {
                    (scsi::key::RECOVERED_ERROR, 0x17, 0x01)
                };
                t.fail(Sense::Fixed {
                    key,
                    asc,
                    ascq,
                    info: u32::try_from(lba).ok(),
                })
            }
            Mode::GarbageSense | Mode::RandomSense => t.fail(Sense::Raw(a.sense.clone())),
            Mode::CapacityZero | Mode::CapacityBs1 | Mode::CapacityBs1m | Mode::CapacityMaxLba => {
                let last = t.disk.blocks() - 1;
                let bs = t.block_size();
                let (lba, len) = match a.mode {
                    Mode::CapacityZero => (0, 0),
                    Mode::CapacityBs1 => (last, 1),
                    Mode::CapacityBs1m => (last, 1 << 20),
                    _ => (u64::MAX, bs),
                };
                let mut r = t.execute(&cbw.cdb);
                if r.status == Status::Good {
                    r.data = Data::In(if cbw.cdb[0] == scsi::op::READ_CAPACITY_10 {
                        scsi::read_capacity_10_data(lba, len)
                    } else {
                        let alloc = cbw.cdb.get(10..14).map_or(0, |b| {
                            b.iter().fold(0usize, |x, &y| (x << 8) | usize::from(y))
                        });
                        scsi::read_capacity_16_data(lba, len, alloc)
                    });
                }
                r
            }
            _ => t.execute(&cbw.cdb),
        }
    }

    fn intent(&self, data: &Data) -> Intent {
        let bs = u64::from(self.target.block_size());
        match data {
            Data::None => Intent::None,
            Data::In(d) => Intent::In(d.len() as u64),
            Data::Read { blocks, .. } => Intent::In(blocks * bs),
            Data::Write { blocks, .. } => Intent::Out(blocks * bs),
        }
    }

    /// Sends `n` bytes of `data` (zeros past its end) on bulk-in, ending with a
    /// short or zero-length packet when `n` is less than the host's `hlen`.
    fn send_in(
        &mut self,
        io: &mut dyn BulkIo,
        data: &Data,
        n: u64,
        hlen: u64,
    ) -> Result<(), Abort> {
        if n == 0 {
            if hlen > 0 {
                io.write_in(&[], false)?;
            }
            return Ok(());
        }
        let bs = u64::from(self.target.block_size());
        let mut off = 0u64;
        while off < n {
            let len = (n - off).min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; len];
            match data {
                Data::In(d) => {
                    let from = (off as usize).min(d.len());
                    let to = (from + len).min(d.len());
                    buf[..to - from].copy_from_slice(&d[from..to]);
                }
                Data::Read { lba, blocks } => {
                    let avail = (blocks * bs).saturating_sub(off).min(len as u64) as usize;
                    self.target.disk.read(lba * bs + off, &mut buf[..avail]);
                }
                _ => {}
            }
            off += len as u64;
            io.write_in(&buf, off == n && n < hlen)?;
        }
        Ok(())
    }

    /// Receives `n` bytes from bulk-out, storing them at the byte address `to`
    /// of the disk if given. Returns the bytes received (fewer if the host sent
    /// a short packet).
    fn recv_out(&mut self, io: &mut dyn BulkIo, n: u64, to: Option<u64>) -> Result<u64, Abort> {
        let mut off = 0u64;
        while off < n {
            let len = (n - off).min(CHUNK as u64) as usize;
            let got = io.read_out(len)?;
            if let Some(addr) = to {
                self.target.disk.write(addr + off, &got);
            }
            off += got.len() as u64;
            if got.len() < len {
                break;
            }
        }
        Ok(off)
    }

    fn execute(&mut self, io: &mut dyn BulkIo, cbw: &Cbw, a: Option<Applied>) -> Result<(), Abort> {
        let mode = a.as_ref().map(|a| a.mode);
        let hlen = u64::from(cbw.len);

        // Faults that replace the whole command.
        match mode {
            Some(Mode::SilentData) => return Err(self.park(io)),
            Some(Mode::StallIn) | Some(Mode::StallOut) => {
                self.target.begin(cbw.cdb[0]);
                self.target.fail(scsi::SENSE_DATA_PHASE_ERROR);
                let ep = if mode == Some(Mode::StallIn) {
                    Ep::In
                } else {
                    Ep::Out
                };
                self.halt(io, ep, false)?;
                return self.send_csw(io, cbw, a.as_ref(), cbw.len, 1);
            }
            Some(Mode::CswAsData) => {
                io.write_in(&csw_bytes(CSW_SIGNATURE, cbw.tag, 0, 0), false)?;
                self.log
                    .line(&format!("data {} dir=in bytes={CSW_LEN}", self.seq));
                return Err(self.park(io));
            }
            // A failed command's CSW in place of its data, and nothing after it:
            // the sense says the data is there (recovered) or names a block in
            // the middle as bad, but not one byte of the data ever moved.
            Some(Mode::CswAsDataRecovered) | Some(Mode::CswAsDataMedium) => {
                let at = scsi::addressing(&cbw.cdb);
                let (key, asc, ascq, lba) = if mode == Some(Mode::CswAsDataRecovered) {
                    (scsi::key::RECOVERED_ERROR, 0x17, 0x01, at.lba)
                } else {
                    (scsi::key::MEDIUM_ERROR, 0x11, 0x00, at.lba + at.blocks / 2)
                };
                self.target.begin(cbw.cdb[0]);
                self.target.fail(Sense::Fixed {
                    key,
                    asc,
                    ascq,
                    info: u32::try_from(lba).ok(),
                });
                io.write_in(&csw_bytes(CSW_SIGNATURE, cbw.tag, 0, 1), false)?;
                self.log
                    .line(&format!("data {} dir=in bytes={CSW_LEN}", self.seq));
                self.log
                    .line(&format!("csw {} status=1 residue=0", self.seq));
                return Ok(());
            }
            _ => {}
        }

        let resp = self.respond(cbw, a.as_ref());
        let intent = self.intent(&resp.data);
        let mut status: u8 = if resp.status == Status::Good { 0 } else { 1 };
        let residue: u64;
        let mut moved = None;
        match (cbw.dir, intent) {
            // Case 1: Hn = Dn.
            (Dir::None, Intent::None) => residue = 0,
            // Cases 2 and 3: Hn < Di, Hn < Do.
            (Dir::None, _) => {
                status = 2;
                residue = 0;
            }
            // Case 8: Hi <> Do.
            (Dir::In, Intent::Out(_)) => {
                self.halt(io, Ep::In, false)?;
                status = 2;
                residue = hlen;
            }
            // Cases 4, 5, 6, 7: Hi > Dn, Hi > Di, Hi = Di, Hi < Di.
            (Dir::In, intent) => {
                let di = if let Intent::In(di) = intent { di } else { 0 };
                let mut n = hlen.min(di);
                match mode {
                    Some(Mode::ShortNoResidue) => n /= 2,
                    Some(Mode::RandomLength) => n = u64::from(a.as_ref().map_or(0, |a| a.length)),
                    Some(Mode::DisconnectData) => {
                        self.send_in(io, &resp.data, n / 2, n / 2)?;
                        self.log
                            .line(&format!("data {} dir=in bytes={}", self.seq, n / 2));
                        return Err(io.disconnect("disconnect-data"));
                    }
                    _ => {}
                }
                self.send_in(io, &resp.data, n, hlen)?;
                moved = Some(n);
                if di > hlen {
                    status = 2;
                }
                residue = hlen - n;
            }
            // Case 10: Ho <> Di.
            (Dir::Out, Intent::In(_)) => {
                self.halt(io, Ep::Out, false)?;
                status = 2;
                residue = hlen;
            }
            // Cases 9, 11, 12, 13: Ho > Dn, Ho > Do, Ho = Do, Ho < Do.
            (Dir::Out, intent) => {
                let dout = if let Intent::Out(d) = intent { d } else { 0 };
                let bs = u64::from(self.target.block_size());
                // Only a whole write is applied: never one the host sends too
                // little data for (case 13).
                let store = match resp.data {
                    Data::Write { lba, .. } if hlen >= dout => Some(lba * bs),
                    _ => None,
                };
                if store.is_none() && hlen < dout {
                    status = 2;
                }
                // Less than the host sends is read in whole packets.
                let packets = |n: u64| n.min(hlen) - n.min(hlen) % u64::from(OUT_PACKET);
                let want = match mode {
                    Some(Mode::RandomLength) => {
                        let n = u64::from(a.as_ref().map_or(0, |a| a.length));
                        if n >= hlen {
                            hlen
                        } else {
                            packets(n)
                        }
                    }
                    Some(Mode::DisconnectData) => packets(hlen / 2),
                    _ => hlen,
                };
                // Store what belongs to the command, take and drop the rest.
                let first = if store.is_some() { want.min(dout) } else { 0 };
                let mut got = self.recv_out(io, first, store)?;
                if got == first {
                    got += self.recv_out(io, want - first, None)?;
                }
                if mode == Some(Mode::DisconnectData) {
                    self.log
                        .line(&format!("data {} dir=out bytes={got}", self.seq));
                    return Err(io.disconnect("disconnect-data"));
                }
                if mode == Some(Mode::RandomLength) && got < hlen {
                    // Refuse the rest of the data (BOT 6.7.3, Ho > Do): left
                    // flowing, it would arrive as the next CBW.
                    self.halt(io, Ep::Out, false)?;
                }
                let processed = if store.is_some() { got.min(dout) } else { 0 };
                if store.is_some() && processed < dout && mode != Some(Mode::RandomLength) {
                    // The host ended the data early with a short packet.
                    status = 2;
                }
                moved = Some(got);
                residue = hlen - processed;
            }
        }
        self.finish(io, cbw, a.as_ref(), moved, residue, status)
    }

    /// After the data phase: the CSW-stage faults, then the CSW.
    fn finish(
        &mut self,
        io: &mut dyn BulkIo,
        cbw: &Cbw,
        a: Option<&Applied>,
        moved: Option<u64>,
        residue: u64,
        status: u8,
    ) -> Result<(), Abort> {
        if let Some(n) = moved {
            let dir = cbw.dir.name();
            self.log
                .line(&format!("data {} dir={dir} bytes={n}", self.seq));
        }
        match a.map(|a| a.mode) {
            Some(Mode::SilentCsw) => return Err(self.park(io)),
            Some(Mode::DisconnectCsw) => return Err(io.disconnect("disconnect-csw")),
            Some(Mode::StallCsw) => self.halt(io, Ep::In, false)?,
            Some(Mode::ZeroLengthCsw) => io.write_in(&[], false)?,
            Some(Mode::ZeroLengthCswOnly) => {
                io.write_in(&[], false)?;
                return Err(self.park(io));
            }
            Some(Mode::SlowCsw) => {
                let ms = a.map_or(0, |a| a.delay_ms);
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            _ => {}
        }
        self.send_csw(io, cbw, a, residue.min(u64::from(u32::MAX)) as u32, status)
    }

    fn send_csw(
        &mut self,
        io: &mut dyn BulkIo,
        cbw: &Cbw,
        a: Option<&Applied>,
        mut residue: u32,
        mut status: u8,
    ) -> Result<(), Abort> {
        let mut sig = CSW_SIGNATURE;
        let mut tag = cbw.tag;
        if let Some(a) = a {
            match a.mode {
                Mode::BadSignature => sig = BAD_SIGNATURE,
                Mode::AltSignature => sig = a.signature,
                Mode::WrongTag => tag = !tag,
                Mode::PhaseError => status = 2,
                Mode::Status3 => status = 3,
                Mode::ResidueTooLarge => residue = cbw.len.saturating_add(512),
                Mode::ShortNoResidue => residue = 0,
                Mode::BogusResidue => residue = (cbw.len / 2).max(1),
                Mode::RandomCsw => {
                    sig = a.csw.signature.unwrap_or(sig);
                    tag = a.csw.tag.unwrap_or(tag);
                    residue = a.csw.residue.unwrap_or(residue);
                    status = a.csw.status.unwrap_or(status);
                }
                _ => {}
            }
        }
        io.write_in(&csw_bytes(sig, tag, residue, status), false)?;
        self.last_csw = Some((status, residue));
        self.log.line(&format!(
            "csw {} status={status} residue={residue}",
            self.seq
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::RamDisk;
    use crate::fault::{parse_control, Control};
    use crate::scsi::TargetConfig;
    use ::scsi::cdb;
    use ::scsi::csw::{Csw, CswStatus};
    use std::collections::VecDeque;

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        In(Vec<u8>, bool),
        Halt(Ep, bool),
        Park,
        Disconnect(String),
    }

    /// A scripted host: the CBWs and the data it sends, and what it saw.
    #[derive(Default)]
    struct Host {
        cbws: VecDeque<Vec<u8>>,
        data: VecDeque<u8>,
        evs: Vec<Ev>,
        /// `evs.len()` at each CBW read: what the device sent before it.
        reads: Vec<usize>,
        /// Once this many events happened, bulk-in writes never complete: the
        /// host does not read, then resets ([`Abort::Reset`]).
        stuck_after: Option<usize>,
    }

    impl BulkIo for Host {
        fn read_cbw(
            &mut self,
            silent: &mut dyn FnMut() -> Option<Vec<String>>,
        ) -> Result<CbwWait, Abort> {
            if let Some(lines) = silent() {
                return Ok(CbwWait::Silent(lines));
            }
            self.reads.push(self.evs.len());
            self.cbws
                .pop_front()
                .map(CbwWait::Packet)
                .ok_or(Abort::Error("host idle".into()))
        }
        fn read_out(&mut self, len: usize) -> Result<Vec<u8>, Abort> {
            let n = len.min(self.data.len());
            Ok(self.data.drain(..n).collect())
        }
        fn write_in(&mut self, data: &[u8], zero: bool) -> Result<(), Abort> {
            if self.stuck_after.is_some_and(|n| self.evs.len() >= n) {
                return Err(Abort::Reset);
            }
            self.evs.push(Ev::In(data.to_vec(), zero));
            Ok(())
        }
        fn halt(&mut self, ep: Ep, wedge: bool) -> Result<(), Abort> {
            self.evs.push(Ev::Halt(ep, wedge));
            Ok(())
        }
        fn park(&mut self) -> Abort {
            self.evs.push(Ev::Park);
            Abort::Reset
        }
        fn disconnect(&mut self, reason: &str) -> Abort {
            self.evs.push(Ev::Disconnect(reason.into()));
            Abort::Disconnected
        }
        fn address(&self, ep: Ep) -> u8 {
            match ep {
                Ep::In => 0x81,
                Ep::Out => 0x02,
            }
        }
    }

    fn engine(blocks: u64) -> Engine {
        let cfg = TargetConfig {
            vendor: "UBTEST".into(),
            product: "BOT FAULTS".into(),
            revision: "1.00".into(),
            serial: "UBFAULT0".into(),
            removable: false,
            write_cache: true,
            write_protect: false,
            dpofua: false,
            bad_blocks: Vec::new(),
            capacity_plus_one: false,
        };
        Engine::new(
            Target::new(cfg, RamDisk::new(blocks, 512)),
            Arc::new(Mutex::new(FaultTable::default())),
            Arc::new(Logger::memory()),
        )
    }

    fn arm(e: &Engine, line: &str) {
        let mut t = e.faults.lock().unwrap();
        match parse_control(line).unwrap() {
            Control::Fault(f) => t.arm(f),
            Control::Random(spec) => t.arm_random(spec),
            c => panic!("{c:?}"),
        }
    }

    fn raw_cbw(tag: u32, len: u32, dir_in: bool, cdb: &[u8]) -> Vec<u8> {
        let mut c = vec![0u8; CBW_LEN];
        c[0..4].copy_from_slice(&CBW_SIGNATURE.to_le_bytes());
        c[4..8].copy_from_slice(&tag.to_le_bytes());
        c[8..12].copy_from_slice(&len.to_le_bytes());
        c[12] = if dir_in { 0x80 } else { 0 };
        c[14] = cdb.len() as u8;
        c[15..15 + cdb.len()].copy_from_slice(cdb);
        c
    }

    struct Run {
        result: Result<(), Abort>,
        evs: Vec<Ev>,
        /// Host data the device did not take.
        left: usize,
    }

    impl Run {
        fn csw(&self) -> Csw {
            match self.evs.last() {
                Some(Ev::In(d, false)) if d.len() == CSW_LEN => Csw::parse(d).unwrap(),
                e => panic!("no CSW last: {e:?}"),
            }
        }
        fn data_in(&self) -> Vec<u8> {
            let n = self.evs.len() - 1;
            self.evs[..n]
                .iter()
                .flat_map(|e| match e {
                    Ev::In(d, _) => d.clone(),
                    _ => Vec::new(),
                })
                .collect()
        }
    }

    fn send(e: &mut Engine, cbw: Vec<u8>, out: &[u8]) -> Run {
        let mut h = Host::default();
        h.cbws.push_back(cbw);
        h.data.extend(out);
        let result = e.serve(&mut h);
        Run {
            result,
            evs: h.evs,
            left: h.data.len(),
        }
    }

    fn cmd_in(e: &mut Engine, tag: u32, len: u32, c: &[u8]) -> Run {
        send(e, raw_cbw(tag, len, true, c), &[])
    }

    fn cmd_out(e: &mut Engine, tag: u32, c: &[u8], data: &[u8]) -> Run {
        send(e, raw_cbw(tag, data.len() as u32, false, c), data)
    }

    fn pattern(seed: u8, n: usize) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    fn read(e: &mut Engine, lba: u64, blocks: u32) -> Vec<u8> {
        let r = cmd_in(
            e,
            99,
            blocks * 512,
            cdb::read_10(lba, blocks).unwrap().as_bytes(),
        );
        assert_eq!(
            r.csw().check(99, blocks * 512, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );
        r.data_in()
    }

    fn write(e: &mut Engine, lba: u64, data: &[u8]) -> Run {
        let blocks = (data.len() / 512) as u32;
        cmd_out(e, 98, cdb::write_10(lba, blocks).unwrap().as_bytes(), data)
    }

    fn sense(e: &mut Engine) -> Vec<u8> {
        cmd_in(e, 97, 18, cdb::request_sense(18).as_bytes()).data_in()
    }

    fn log(e: &Engine) -> Vec<String> {
        e.log.lines()
    }

    #[test]
    fn parses_cbw() {
        let c = raw_cbw(7, 36, true, cdb::inquiry(None, 36).as_bytes());
        let p = Cbw::parse(&c).unwrap();
        assert_eq!(
            (p.tag, p.len, p.dir, p.lun, p.cdb.len()),
            (7, 36, Dir::In, 0, 6)
        );
        // dCBWDataTransferLength 0 means no data whatever the direction bit.
        assert_eq!(
            Cbw::parse(&raw_cbw(7, 0, true, &[0; 6])).unwrap().dir,
            Dir::None
        );
        assert!(Cbw::parse(&c[..30]).is_err());
        let mut bad = c.clone();
        bad[0] = b'X';
        assert!(Cbw::parse(&bad).is_err());
        let mut bad = c.clone();
        bad[14] = 17;
        assert!(Cbw::parse(&bad).is_err());
        let mut bad = c;
        bad[12] = 0x81;
        assert!(Cbw::parse(&bad).is_err());
        // The driver's own encoder agrees.
        let enc = ::scsi::cbw::Cbw::new(
            5,
            512,
            ::scsi::cbw::Direction::Out,
            0,
            cdb::write_10(1, 1).unwrap().as_bytes(),
        )
        .unwrap()
        .encode();
        assert_eq!(Cbw::parse(&enc).unwrap().dir, Dir::Out);
    }

    #[test]
    fn case_6_hi_equals_di() {
        let mut e = engine(1000);
        let r = cmd_in(&mut e, 1, 36, cdb::inquiry(None, 36).as_bytes());
        assert_eq!(r.result, Ok(()));
        assert_eq!(r.evs.len(), 2);
        assert_eq!(r.data_in().len(), 36);
        assert_eq!(
            r.csw().check(1, 36, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );
        assert_eq!(
            log(&e),
            [
                "cmd 1 tag=0x00000001 op=0x12 lba=0 blocks=0 len=36 dir=in fault=none",
                "data 1 dir=in bytes=36",
                "csw 1 status=0 residue=0"
            ]
        );
    }

    #[test]
    fn case_5_hi_more_than_di_ends_short_with_residue() {
        let mut e = engine(1000);
        let r = cmd_in(&mut e, 2, 96, cdb::inquiry(None, 96).as_bytes());
        assert_eq!(r.evs[0], Ev::In(r.data_in(), true));
        assert_eq!(r.data_in().len(), 36);
        assert_eq!(
            r.csw().check(2, 96, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 60 })
        );
        // A READ of 1 block into a 4096-byte transfer: 512 bytes, ZLP flag, residue.
        let r = cmd_in(&mut e, 3, 4096, cdb::read_10(0, 1).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::In(vec![0; 512], true));
        assert_eq!(r.csw().residue, 3584);
    }

    #[test]
    fn case_7_hi_less_than_di_is_a_phase_error() {
        let mut e = engine(1000);
        let r = cmd_in(&mut e, 3, 8, cdb::inquiry(None, 36).as_bytes());
        assert_eq!(r.data_in().len(), 8);
        assert_eq!(r.evs[0], Ev::In(r.data_in(), false));
        assert_eq!(
            r.csw().check(3, 8, CSW_SIGNATURE),
            Ok(CswStatus::PhaseError)
        );
    }

    #[test]
    fn cases_2_3_host_expects_no_data() {
        let mut e = engine(1000);
        let r = send(
            &mut e,
            raw_cbw(4, 0, true, cdb::read_10(0, 1).unwrap().as_bytes()),
            &[],
        );
        assert_eq!(r.evs.len(), 1);
        assert_eq!(r.csw().status, 2);
        let r = send(
            &mut e,
            raw_cbw(5, 0, false, cdb::write_10(0, 1).unwrap().as_bytes()),
            &[],
        );
        assert_eq!(r.evs.len(), 1);
        assert_eq!(r.csw().status, 2);
    }

    #[test]
    fn case_4_and_9_device_has_no_data() {
        let mut e = engine(1000);
        let r = cmd_in(&mut e, 6, 512, cdb::test_unit_ready().as_bytes());
        assert_eq!(r.evs[0], Ev::In(vec![], false));
        assert_eq!(
            r.csw().check(6, 512, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 512 })
        );
        let r = cmd_out(&mut e, 7, cdb::test_unit_ready().as_bytes(), &[1; 1024]);
        assert_eq!(r.left, 0, "the data is taken and dropped");
        assert_eq!(
            r.csw().check(7, 1024, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 1024 })
        );
        // A failing read: no data, the transfer ends at once, full residue.
        let r = cmd_in(&mut e, 8, 4096, cdb::read_10(999, 8).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::In(vec![], false));
        assert_eq!(
            r.csw().check(8, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 4096 })
        );
    }

    #[test]
    fn cases_8_10_direction_mismatch_stalls() {
        let mut e = engine(1000);
        let r = cmd_in(&mut e, 9, 512, cdb::write_10(0, 1).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::Halt(Ep::In, false));
        assert_eq!(r.csw().status, 2);
        assert_eq!(r.csw().residue, 512);
        let r = cmd_out(
            &mut e,
            10,
            cdb::read_10(0, 1).unwrap().as_bytes(),
            &[5; 512],
        );
        assert_eq!(r.evs[0], Ev::Halt(Ep::Out, false));
        assert_eq!(r.left, 512);
        assert_eq!(r.csw().status, 2);
        assert!(log(&e).contains(&"halt 2 ep=0x02".to_string()));
        assert_eq!(read(&mut e, 0, 1), vec![0; 512]);
    }

    #[test]
    fn cases_11_13_host_sends_more_or_less() {
        let mut e = engine(1000);
        let r = cmd_out(
            &mut e,
            11,
            cdb::write_10(3, 1).unwrap().as_bytes(),
            &pattern(1, 1024),
        );
        assert_eq!(r.left, 0);
        assert_eq!(
            r.csw().check(11, 1024, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 512 })
        );
        assert_eq!(read(&mut e, 3, 1), pattern(1, 512));
        assert_eq!(read(&mut e, 4, 1), vec![0; 512]);
        // Ho < Do: phase error, and the partial write is not applied.
        let r = cmd_out(
            &mut e,
            12,
            cdb::write_10(10, 2).unwrap().as_bytes(),
            &pattern(2, 512),
        );
        assert_eq!(r.left, 0);
        assert_eq!(r.csw().status, 2);
        assert_eq!(read(&mut e, 10, 2), vec![0; 1024]);
    }

    #[test]
    fn write_and_read_back_large_in_chunks() {
        let mut e = engine(4096);
        let data = pattern(9, 600 * 1024);
        let r = write(&mut e, 100, &data);
        assert_eq!(r.left, 0);
        assert_eq!(
            r.csw().check(98, data.len() as u32, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );
        let r = cmd_in(
            &mut e,
            5,
            data.len() as u32,
            cdb::read_16(100, 1200).unwrap().as_bytes(),
        );
        let chunks: Vec<_> = r.evs[..r.evs.len() - 1].to_vec();
        assert_eq!(chunks.len(), 5);
        assert!(chunks.iter().all(|c| matches!(c, Ev::In(_, false))));
        assert_eq!(r.data_in(), data);
        assert_eq!(read(&mut e, 99, 1), vec![0; 512]);
        assert_eq!(read(&mut e, 1300, 1), vec![0; 512]);
    }

    #[test]
    fn invalid_cbw_wedges_both_pipes_until_reset() {
        let mut e = engine(1000);
        let mut c = raw_cbw(1, 0, false, cdb::test_unit_ready().as_bytes());
        c.push(0);
        let r = send(&mut e, c, &[]);
        assert_eq!(r.result, Err(Abort::Reset));
        assert_eq!(
            r.evs,
            [Ev::Halt(Ep::In, true), Ev::Halt(Ep::Out, true), Ev::Park]
        );
        assert!(log(&e)[0].starts_with("error invalid CBW after cmd 0: length 32"));
        // Served normally after the reset.
        let r = cmd_in(&mut e, 2, 36, cdb::inquiry(None, 36).as_bytes());
        assert_eq!(r.csw().status, 0);
    }

    #[test]
    fn other_luns_are_not_supported() {
        let mut e = engine(1000);
        let mut c = raw_cbw(1, 0, false, cdb::test_unit_ready().as_bytes());
        c[13] = 1;
        assert_eq!(send(&mut e, c, &[]).csw().status, 1);
        assert_eq!(&sense(&mut e)[12..14], &[0x25, 0]);
    }

    #[test]
    fn silent_faults_hold_until_reset() {
        let mut e = engine(1000);
        arm(&e, "fault silent-cbw");
        let mut h = Host::default();
        h.cbws.push_back(raw_cbw(1, 0, false, &[0; 6]));
        assert_eq!(e.serve(&mut h), Err(Abort::Reset));
        assert_eq!(h.evs, [Ev::Park]);
        assert_eq!(h.cbws.len(), 1, "the CBW was not read");
        assert_eq!(
            log(&e)[0],
            "cmd 1 tag=none op=none lba=0 blocks=0 len=0 dir=none fault=silent-cbw"
        );
        assert_eq!(log(&e)[1], "fault done silent-cbw");

        arm(&e, "fault silent-data op=read");
        let r = cmd_in(&mut e, 2, 512, cdb::read_10(0, 1).unwrap().as_bytes());
        assert_eq!(r.evs, [Ev::Park]);
        arm(&e, "fault silent-data");
        let r = cmd_out(
            &mut e,
            3,
            cdb::write_10(0, 1).unwrap().as_bytes(),
            &[1; 512],
        );
        assert_eq!((r.evs.as_slice(), r.left), ([Ev::Park].as_slice(), 512));
        assert_eq!(read(&mut e, 0, 1), vec![0; 512]);

        arm(&e, "fault silent-csw");
        let r = cmd_in(&mut e, 4, 512, cdb::read_10(0, 1).unwrap().as_bytes());
        assert_eq!(r.evs, [Ev::In(vec![0; 512], false), Ev::Park]);
        assert_eq!(r.result, Err(Abort::Reset));
    }

    #[test]
    fn stall_faults() {
        let mut e = engine(1000);
        arm(&e, "fault stall-in op=read");
        let r = cmd_in(&mut e, 1, 4096, cdb::read_10(0, 8).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::Halt(Ep::In, false));
        assert_eq!(r.evs.len(), 2);
        assert_eq!(
            r.csw().check(1, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 4096 })
        );
        let s = ::scsi::sense::Sense::parse(&sense(&mut e)).unwrap();
        assert_eq!(
            (s.key, s.asc, s.ascq),
            (::scsi::sense::SenseKey::AbortedCommand, 0x4b, 0)
        );

        arm(&e, "fault stall-out");
        let r = write(&mut e, 0, &pattern(3, 1024));
        assert_eq!(r.evs[0], Ev::Halt(Ep::Out, false));
        assert_eq!(r.left, 1024);
        assert_eq!(
            r.csw().check(98, 1024, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 1024 })
        );
        assert_eq!(read(&mut e, 0, 2), vec![0; 1024]);

        arm(&e, "fault stall-csw op=tur");
        let r = cmd_in(&mut e, 3, 0, cdb::test_unit_ready().as_bytes());
        assert_eq!(r.evs[0], Ev::Halt(Ep::In, false));
        assert_eq!(
            r.csw().check(3, 0, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );
        let l = log(&e);
        assert!(l.iter().any(|x| x == "halt 1 ep=0x81"), "{l:?}");
    }

    #[test]
    fn csw_field_faults() {
        let mut e = engine(1000);
        let inq = cdb::inquiry(None, 36);
        let mut check = |f: &str| {
            arm(&e, f);
            let r = cmd_in(&mut e, 0x1234, 36, inq.as_bytes());
            assert_eq!(r.data_in().len(), 36, "{f}");
            r.csw()
        };
        assert_eq!(check("fault bad-signature").signature, BAD_SIGNATURE);
        let c = check("fault alt-signature");
        assert_eq!(c.signature, 0x5553_4253);
        assert_eq!(&csw_bytes(c.signature, 0, 0, 0)[..4], b"SBSU");
        assert_eq!(
            check("fault alt-signature sig=olympus").signature,
            0x5542_5355
        );
        assert_eq!(check("fault wrong-tag").tag, !0x1234);
        assert_eq!(check("fault phase-error").status, 2);
        assert_eq!(check("fault status-3").status, 3);
        assert_eq!(check("fault residue-too-large").residue, 36 + 512);
        let c = check("fault bogus-residue");
        assert_eq!((c.residue, c.status), (18, 0));
        for c in [check("fault wrong-tag"), check("fault residue-too-large")] {
            assert!(c.check(0x1234, 36, CSW_SIGNATURE).is_err());
        }
    }

    #[test]
    fn data_phase_faults() {
        let mut e = engine(1000);
        write(&mut e, 0, &pattern(4, 4096));
        let rd = cdb::read_10(0, 8).unwrap();

        arm(&e, "fault short-no-residue");
        let r = cmd_in(&mut e, 1, 4096, rd.as_bytes());
        assert_eq!(r.evs[0], Ev::In(pattern(4, 2048), true));
        assert_eq!(r.csw().residue, 0);

        arm(&e, "fault csw-as-data");
        let r = cmd_in(&mut e, 2, 4096, rd.as_bytes());
        assert_eq!(r.evs.len(), 2);
        assert_eq!(r.evs[1], Ev::Park);
        let Ev::In(d, _) = &r.evs[0] else { panic!() };
        assert_eq!(
            Csw::parse(d).unwrap().check(2, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );

        arm(&e, "fault zero-length-csw");
        let r = cmd_in(&mut e, 3, 4096, rd.as_bytes());
        assert_eq!(r.evs[1], Ev::In(vec![], false));
        assert_eq!(
            r.csw().check(3, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 0 })
        );

        arm(&e, "fault zero-length-csw-only");
        let r = cmd_in(&mut e, 4, 4096, rd.as_bytes());
        assert_eq!(r.evs[1..], [Ev::In(vec![], false), Ev::Park]);
    }

    #[test]
    fn scsi_faults() {
        let mut e = engine(1000);
        arm(&e, "fault not-ready count=3");
        for t in 1..=3 {
            // INQUIRY is spared.
            assert_eq!(
                cmd_in(&mut e, t, 36, cdb::inquiry(None, 36).as_bytes())
                    .csw()
                    .status,
                0
            );
            let r = cmd_in(&mut e, t, 0, cdb::test_unit_ready().as_bytes());
            assert_eq!(r.csw().status, 1);
            assert_eq!(
                sense(&mut e)[..14],
                [0x70, 0, 2, 0, 0, 0, 0, 10, 0, 0, 0, 0, 4, 1]
            );
        }
        assert_eq!(
            cmd_in(&mut e, 9, 0, cdb::test_unit_ready().as_bytes())
                .csw()
                .status,
            0
        );
        assert!(log(&e).contains(&"fault done not-ready".to_string()));

        arm(&e, "fault unit-attention");
        assert_eq!(
            cmd_in(&mut e, 10, 0, cdb::test_unit_ready().as_bytes())
                .csw()
                .status,
            1
        );
        assert_eq!(&sense(&mut e)[12..14], &[0x28, 0]);
        assert_eq!(
            cmd_in(&mut e, 11, 0, cdb::test_unit_ready().as_bytes())
                .csw()
                .status,
            0
        );

        arm(&e, "fault aborted op=sync");
        assert_eq!(
            cmd_in(
                &mut e,
                12,
                0,
                cdb::synchronize_cache_10(0, 0, false).as_bytes()
            )
            .csw()
            .status,
            1
        );
        assert_eq!(sense(&mut e)[2], 0x0b);

        arm(&e, "fault garbage-sense op=tur");
        assert_eq!(
            cmd_in(&mut e, 13, 0, cdb::test_unit_ready().as_bytes())
                .csw()
                .status,
            1
        );
        assert!(::scsi::sense::Sense::parse(&sense(&mut e)).is_err());
        // Cleared after it was read.
        assert_eq!(sense(&mut e)[0], 0x70);
    }

    #[test]
    fn medium_error_skips_the_data_and_keeps_the_disk() {
        let mut e = engine(1000);
        write(&mut e, 0, &pattern(5, 8192));
        arm(&e, "fault medium-error op=write");
        let r = write(&mut e, 4, &pattern(6, 2048));
        assert_eq!(r.left, 0);
        assert_eq!(
            r.csw().check(98, 2048, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 2048 })
        );
        let s = ::scsi::sense::Sense::parse(&sense(&mut e)).unwrap();
        assert_eq!(
            (s.key, s.asc, s.info),
            (::scsi::sense::SenseKey::MediumError, 0x11, Some(4))
        );
        assert_eq!(read(&mut e, 0, 16), pattern(5, 8192));
        arm(&e, "fault medium-error");
        let r = cmd_in(&mut e, 2, 4096, cdb::read_10(0, 8).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::In(vec![], false));
        assert_eq!(
            r.csw().check(2, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 4096 })
        );
    }

    #[test]
    fn recovered_error_moves_nothing_and_keeps_the_disk() {
        let mut e = engine(1000);
        write(&mut e, 0, &pattern(5, 8192));
        arm(&e, "fault recovered-error op=write");
        let r = write(&mut e, 4, &pattern(6, 2048));
        assert_eq!(r.left, 0, "the data is received and dropped");
        assert_eq!(
            r.csw().check(98, 2048, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 2048 })
        );
        let raw = sense(&mut e);
        assert_eq!(
            raw[..14],
            [0xf0, 0, 1, 0, 0, 0, 4, 10, 0, 0, 0, 0, 0x17, 0x01]
        );
        let s = ::scsi::sense::Sense::parse(&raw).unwrap();
        assert_eq!(
            (s.key, s.asc, s.ascq, s.info),
            (::scsi::sense::SenseKey::RecoveredError, 0x17, 0x01, Some(4))
        );
        assert_eq!(read(&mut e, 0, 16), pattern(5, 8192));

        // op=any: TEST UNIT READY passes, the READ is hit.
        arm(&e, "fault recovered-error");
        let tur = cmd_in(&mut e, 1, 0, cdb::test_unit_ready().as_bytes());
        assert_eq!(tur.csw().status, 0);
        let r = cmd_in(&mut e, 2, 4096, cdb::read_10(9, 8).unwrap().as_bytes());
        assert_eq!(r.evs, [r.evs[0].clone(), r.evs[1].clone()]);
        assert_eq!(r.evs[0], Ev::In(vec![], false));
        assert_eq!(
            r.csw().check(2, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 4096 })
        );
        assert_eq!(&sense(&mut e)[2..7], &[1, 0, 0, 0, 9]);
        let l = log(&e);
        assert!(l.iter().any(|x| x.ends_with("fault=recovered-error")));
        assert!(l.contains(&"fault done recovered-error".to_string()));
    }

    #[test]
    fn failed_csw_in_place_of_data_then_sense() {
        let mut e = engine(1000);
        write(&mut e, 0, &pattern(6, 8192));
        for (f, key, info) in [
            ("fault csw-as-data-recovered", 1u8, 4u8),
            ("fault csw-as-data-medium", 3, 8),
        ] {
            arm(&e, f);
            let r = cmd_in(&mut e, 5, 4096, cdb::read_10(4, 8).unwrap().as_bytes());
            // The CSW is all that comes, in place of the data.
            assert_eq!(r.evs.len(), 1, "{f}");
            assert_eq!(
                r.csw().check(5, 4096, CSW_SIGNATURE),
                Ok(CswStatus::Failed { residue: 0 }),
                "{f}"
            );
            assert_eq!(&sense(&mut e)[2..7], &[key, 0, 0, 0, info], "{f}");
            // The device serves the next command as usual.
            assert_eq!(read(&mut e, 0, 16), pattern(6, 8192), "{f}");
        }
    }

    fn read_cbw(tag: u32, lba: u64, blocks: u32) -> Vec<u8> {
        raw_cbw(
            tag,
            blocks * 512,
            true,
            cdb::read_10(lba, blocks).unwrap().as_bytes(),
        )
    }

    fn host(cbws: Vec<Vec<u8>>) -> Host {
        Host {
            cbws: cbws.into(),
            ..Host::default()
        }
    }

    #[test]
    fn early_answer_answers_the_next_read_before_its_cbw() {
        let mut e = engine(1000);
        let disk = pattern(4, 24 * 512);
        write(&mut e, 0, &disk);
        let start = log(&e).len();
        arm(&e, "fault early-answer");
        let mut h = host(vec![
            read_cbw(5, 0, 8),
            read_cbw(6, 8, 8),
            read_cbw(7, 16, 8),
        ]);
        assert_eq!(e.serve(&mut h), Ok(()));
        // Command 1, then the answer to the predicted command 2, all before
        // the second CBW is read.
        assert_eq!(h.evs.len(), 4);
        assert_eq!(h.evs[0], Ev::In(disk[..4096].to_vec(), false));
        assert_eq!(h.evs[2], Ev::In(disk[4096..8192].to_vec(), false));
        for (i, tag) in [(1, 5), (3, 6)] {
            let Ev::In(c, false) = &h.evs[i] else {
                panic!("{:?}", h.evs[i])
            };
            assert_eq!(
                Csw::parse(c).unwrap().check(tag, 4096, CSW_SIGNATURE),
                Ok(CswStatus::Passed { residue: 0 })
            );
        }
        assert_eq!(h.reads, [0]);
        // The second CBW is the predicted one: not answered again.
        assert_eq!(e.serve(&mut h), Ok(()));
        assert_eq!((h.evs.len(), h.reads.as_slice()), (4, [0, 4].as_slice()));
        // The third is served as usual (the fault is done).
        assert_eq!(e.serve(&mut h), Ok(()));
        assert_eq!(h.evs.len(), 6);
        assert_eq!(h.evs[4], Ev::In(disk[8192..].to_vec(), false));
        assert_eq!(
            log(&e)[start..],
            [
                "cmd 2 tag=0x00000005 op=0x28 lba=0 blocks=8 len=4096 dir=in fault=early-answer",
                "fault done early-answer",
                "data 2 dir=in bytes=4096",
                "csw 2 status=0 residue=0",
                "early 3 tag=0x00000006 lba=8 blocks=8 len=4096",
                "early 3 sent bytes=4096",
                "cmd 3 tag=0x00000006 op=0x28 lba=8 blocks=8 len=4096 dir=in fault=none",
                "early 3 matched",
                "cmd 4 tag=0x00000007 op=0x28 lba=16 blocks=8 len=4096 dir=in fault=none",
                "data 4 dir=in bytes=4096",
                "csw 4 status=0 residue=0",
            ]
        );
    }

    #[test]
    fn early_answer_mismatch_tag_wrap_and_count() {
        let mut e = engine(1000);
        arm(&e, "fault early-answer op=read count=2");
        let mut h = host(vec![
            read_cbw(0xffff_ffff, 0, 1),
            // The predicted tag (it wraps to 0) but another length: served.
            read_cbw(0, 1, 2),
            // Predicted by the second: answered ahead, no fault sees it.
            read_cbw(1, 3, 2),
            // The fault is done: served normally, nothing predicted.
            read_cbw(2, 5, 2),
        ]);
        for _ in 0..4 {
            assert_eq!(e.serve(&mut h), Ok(()));
        }
        // The matched third CBW adds nothing before the fourth is read.
        assert_eq!(h.reads, [0, 4, 8, 8]);
        let Ev::In(c, _) = &h.evs[3] else { panic!() };
        assert_eq!(Csw::parse(c).unwrap().tag, 0);
        let l = log(&e);
        for want in [
            "early 2 tag=0x00000000 lba=1 blocks=1 len=512",
            "early 2 mismatch",
            "early 3 tag=0x00000001 lba=3 blocks=2 len=1024",
            "early 3 matched",
            "fault done early-answer",
        ] {
            assert!(l.iter().any(|x| x == want), "{want}: {l:?}");
        }
        assert!(l[l.len() - 3].ends_with("fault=none"), "{l:?}");
        assert!(!l.iter().any(|x| x.starts_with("early 4")), "{l:?}");
    }

    #[test]
    fn early_answer_is_abandoned_and_discarded_by_a_host_reset() {
        let mut e = engine(1000);
        arm(&e, "fault early-answer count=2");
        // The host never reads the early data (its IN transfer is not queued
        // while its CBW is pending), then resets.
        let mut h = host(vec![read_cbw(1, 0, 8)]);
        h.stuck_after = Some(2);
        assert_eq!(e.serve(&mut h), Err(Abort::Reset));
        assert_eq!(h.evs.len(), 2);
        e.host_reset();
        // The predicted CBW after the reset is served in full (and, the
        // second count, answers command 3 ahead).
        let r = send(&mut e, read_cbw(2, 8, 8), &[]);
        assert_eq!(r.evs.len(), 4);
        assert_eq!(r.evs[0], Ev::In(vec![0; 4096], false));
        let Ev::In(c, _) = &r.evs[1] else { panic!() };
        assert_eq!(Csw::parse(c).unwrap().tag, 2);
        assert_eq!(r.csw().tag, 3);
        // A reset between a sent early answer and the CBW discards it too.
        e.host_reset();
        let r = send(&mut e, read_cbw(3, 16, 8), &[]);
        assert_eq!(r.evs.len(), 2);
        let l = log(&e);
        for want in [
            "early 2 tag=0x00000002 lba=8 blocks=8 len=4096",
            "early 2 discarded",
            "early 3 tag=0x00000003 lba=16 blocks=8 len=4096",
            "early 3 sent bytes=4096",
            "early 3 discarded",
        ] {
            assert!(l.iter().any(|x| x == want), "{want}: {l:?}");
        }
        assert!(!l.iter().any(|x| x == "early 2 sent bytes=4096"));
        assert!(!l
            .iter()
            .any(|x| x.contains("matched") || x.contains("mismatch")));
        // Resets with nothing predicted log nothing.
        let n = l.len();
        e.host_reset();
        assert_eq!(log(&e).len(), n);
    }

    #[test]
    fn early_answer_needs_a_clean_read_and_room() {
        let mut e = engine(100);
        arm(&e, "fault early-answer count=forever");
        // Residue 512 (Hi > Di): no early answer.
        let r = cmd_in(&mut e, 1, 1024, cdb::read_10(0, 1).unwrap().as_bytes());
        assert_eq!(r.evs.len(), 2);
        // The following blocks pass the end of the disk.
        let r = send(&mut e, read_cbw(2, 90, 8), &[]);
        assert_eq!(r.evs.len(), 2);
        // A failing READ.
        let r = send(&mut e, read_cbw(3, 99, 8), &[]);
        assert_eq!(r.csw().status, 1);
        let l = log(&e);
        assert!(l.contains(&"early 2 skipped reason=status".to_string()));
        assert!(l.contains(&"early 3 skipped reason=range".to_string()));
        assert!(l.contains(&"early 4 skipped reason=status".to_string()));
        // Ends exactly at the last block: answered.
        send(&mut e, read_cbw(4, 84, 8), &[]);
        assert!(log(&e).contains(&"early 5 sent bytes=4096".to_string()));
    }

    #[test]
    fn not_ready_until_start_until_the_unit_is_started() {
        let mut e = engine(1000);
        write(&mut e, 0, &pattern(3, 4096));
        arm(&e, "fault not-ready-until-start");
        let needs_start = [0x70, 0, 2, 0, 0, 0, 0, 10, 0, 0, 0, 0, 4, 2];
        let tur = cdb::test_unit_ready();
        for _ in 0..2 {
            let inq = cmd_in(&mut e, 1, 36, cdb::inquiry(None, 36).as_bytes());
            assert_eq!(inq.csw().status, 0);
            assert_eq!(cmd_in(&mut e, 2, 0, tur.as_bytes()).csw().status, 1);
            assert_eq!(sense(&mut e)[..14], needs_start);
        }
        let rc = cmd_in(&mut e, 3, 8, cdb::read_capacity_10().as_bytes());
        assert_eq!(rc.evs[0], Ev::In(vec![], false));
        assert_eq!(
            rc.csw().check(3, 8, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 8 })
        );
        let r = cmd_in(&mut e, 4, 4096, cdb::read_10(0, 8).unwrap().as_bytes());
        assert_eq!(r.evs[0], Ev::In(vec![], false));
        assert_eq!(r.csw().residue, 4096);
        let w = write(&mut e, 0, &pattern(9, 1024));
        assert_eq!((w.left, w.csw().status), (0, 1));
        assert_eq!(sense(&mut e)[12..14], [4, 2]);
        // STOP, and START with LOEJ: good, but the unit stays not ready.
        for (start, loej) in [(false, false), (true, true)] {
            let ssu = cdb::start_stop_unit(start, loej, false);
            assert_eq!(cmd_in(&mut e, 5, 0, ssu.as_bytes()).csw().status, 0);
            assert_eq!(cmd_in(&mut e, 6, 0, tur.as_bytes()).csw().status, 1);
        }
        let ssu = cdb::start_stop_unit(true, false, false);
        assert_eq!(cmd_in(&mut e, 7, 0, ssu.as_bytes()).csw().status, 0);
        let l = log(&e);
        let at = l
            .iter()
            .position(|x| x.contains("op=0x1b") && x.contains("tag=0x00000007"));
        assert_eq!(l[at.unwrap() + 1], "fault done not-ready-until-start");
        assert!(l.iter().any(|x| x.ends_with("fault=not-ready-until-start")));
        assert_eq!(cmd_in(&mut e, 8, 0, tur.as_bytes()).csw().status, 0);
        assert_eq!(read(&mut e, 0, 8), pattern(3, 4096));
    }

    #[test]
    fn capacity_faults() {
        let mut e = engine(131072);
        let rc10 = cdb::read_capacity_10();
        let rc16 = cdb::read_capacity_16(32);
        let mut get = |f: &str, c: &[u8], len: u32| {
            arm(&e, f);
            let r = cmd_in(&mut e, 1, len, c);
            assert_eq!(r.csw().status, 0);
            r.data_in()
        };
        assert_eq!(get("fault capacity-zero", rc10.as_bytes(), 8), [0; 8]);
        assert_eq!(get("fault capacity-zero", rc16.as_bytes(), 32), [0; 32]);
        assert_eq!(
            get("fault capacity-bs1", rc10.as_bytes(), 8),
            [0, 1, 0xff, 0xff, 0, 0, 0, 1]
        );
        assert_eq!(
            get("fault capacity-bs1m", rc10.as_bytes(), 8),
            [0, 1, 0xff, 0xff, 0, 0x10, 0, 0]
        );
        assert_eq!(
            get("fault capacity-maxlba", rc10.as_bytes(), 8),
            [0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0]
        );
        let d = get("fault capacity-maxlba", rc16.as_bytes(), 32);
        assert_eq!(
            d[..12],
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0]
        );
        let d = get("fault capacity-bs1", rc16.as_bytes(), 32);
        assert_eq!(d[..12], [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 1]);
    }

    #[test]
    fn disconnect_faults() {
        let mut e = engine(1000);
        arm(&e, "fault disconnect-data op=read");
        let r = cmd_in(&mut e, 1, 4096, cdb::read_10(0, 8).unwrap().as_bytes());
        assert_eq!(r.result, Err(Abort::Disconnected));
        assert_eq!(
            r.evs,
            [
                Ev::In(vec![0; 2048], false),
                Ev::Disconnect("disconnect-data".into())
            ]
        );

        let mut e = engine(1000);
        arm(&e, "fault disconnect-data op=write");
        let r = write(&mut e, 0, &pattern(7, 4096));
        assert_eq!(r.left, 2048);
        assert_eq!(r.evs, [Ev::Disconnect("disconnect-data".into())]);
        // The written half is on the disk (its own blocks only).
        let mut e2 = e;
        assert_eq!(read(&mut e2, 0, 4), pattern(7, 2048));
        assert_eq!(read(&mut e2, 4, 4), vec![0; 2048]);

        let mut e = engine(1000);
        arm(&e, "fault disconnect-csw");
        let r = cmd_in(&mut e, 1, 0, cdb::test_unit_ready().as_bytes());
        assert_eq!(r.evs, [Ev::Disconnect("disconnect-csw".into())]);
    }

    /// Every fault on a WRITE leaves the blocks outside the command intact.
    #[test]
    fn faulted_writes_never_touch_other_blocks() {
        let modes = [
            "silent-data",
            "silent-csw",
            "stall-out",
            "stall-csw",
            "bad-signature",
            "wrong-tag",
            "phase-error",
            "status-3",
            "residue-too-large",
            "zero-length-csw",
            "zero-length-csw-only",
            "garbage-sense",
            "alt-signature",
            "bogus-residue",
            "not-ready",
            "medium-error",
            "unit-attention",
            "aborted",
            "recovered-error",
            "not-ready-until-start",
        ];
        for m in modes {
            let mut e = engine(64);
            let base = pattern(1, 32 * 512);
            write(&mut e, 0, &base);
            arm(&e, &format!("fault {m} op=write"));
            let r = write(&mut e, 8, &pattern(2, 8 * 512));
            assert!(
                log(&e).iter().any(|l| l.ends_with(&format!("fault={m}"))),
                "{m}"
            );
            let _ = r;
            let all = read(&mut e, 0, 32);
            assert_eq!(all[..8 * 512], base[..8 * 512], "{m}");
            assert_eq!(all[16 * 512..], base[16 * 512..], "{m}");
            let own = &all[8 * 512..16 * 512];
            assert!(
                own == &base[8 * 512..16 * 512] || own == &pattern(2, 8 * 512)[..],
                "{m}"
            );
        }
    }

    #[test]
    fn random_length_on_data_out_halts_bulk_out() {
        let mut e = engine(100);
        let mut a = Applied::new(Mode::RandomLength);
        a.length = 1024;
        let cbw = Cbw::parse(&raw_cbw(
            1,
            4096,
            false,
            cdb::write_10(0, 8).unwrap().as_bytes(),
        ))
        .unwrap();
        let mut h = Host::default();
        h.data.extend(pattern(8, 4096));
        e.execute(&mut h, &cbw, Some(a)).unwrap();
        assert_eq!(h.data.len(), 3072);
        assert_eq!(h.evs[0], Ev::Halt(Ep::Out, false));
        let Ev::In(c, _) = &h.evs[1] else { panic!() };
        assert_eq!(Csw::parse(c).unwrap().residue, 3072);
        // What arrived went to the command's own blocks.
        assert_eq!(read(&mut e, 0, 2), pattern(8, 1024));
        assert_eq!(read(&mut e, 2, 6), vec![0; 3072]);
    }

    fn random_session(seed: u64) -> (Vec<Vec<Ev>>, Vec<String>, Vec<u8>) {
        let mut e = engine(256);
        write(&mut e, 0, &pattern(3, 256 * 512));
        arm(&e, &format!("random seed={seed} count=300"));
        let mut evs = Vec::new();
        for i in 0..300u32 {
            let r = match i % 6 {
                0 => cmd_in(
                    &mut e,
                    i,
                    4096,
                    cdb::read_10(u64::from(i % 32), 8).unwrap().as_bytes(),
                ),
                1 => cmd_out(
                    &mut e,
                    i,
                    cdb::write_10(100, 4).unwrap().as_bytes(),
                    &pattern(i as u8, 2048),
                ),
                2 => cmd_in(&mut e, i, 0, cdb::test_unit_ready().as_bytes()),
                3 => cmd_in(&mut e, i, 18, cdb::request_sense(18).as_bytes()),
                4 => cmd_in(&mut e, i, 36, cdb::inquiry(None, 36).as_bytes()),
                _ => cmd_in(&mut e, i, 8, cdb::read_capacity_10().as_bytes()),
            };
            evs.push(r.evs);
        }
        let all = read(&mut e, 0, 256);
        (evs, log(&e), all)
    }

    #[test]
    fn random_mode_is_reproducible_and_keeps_other_blocks() {
        let (evs, log, disk) = random_session(77);
        let again = random_session(77);
        assert_eq!(evs, again.0);
        assert_eq!(log, again.1);
        assert_ne!(evs, random_session(78).0);
        assert!(log.iter().any(|l| l.starts_with("random 2 seed=77 pick=")));
        assert!(log.iter().any(|l| l == "fault done random"));
        let base = pattern(3, 256 * 512);
        assert_eq!(disk[..100 * 512], base[..100 * 512]);
        assert_eq!(disk[104 * 512..], base[104 * 512..]);
    }
}
